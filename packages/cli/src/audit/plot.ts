import type { LatencyRecord } from '@hpcmirror/subscriber';
import { plotData, type PlotDataOptions } from './plot-data.js';
import { writePlot } from './plot-render.js';
import { latencyPlotSpec } from './plot-spec.js';

export const PLOT_TITLE = 'hpcmirror: latency per event (shim saw the change -> destination rename done)';

/** `audit --plot FILE`: the latency log drawn into FILE (.png or .html). */
export async function writeLatencyPlot(file: string, records: AsyncIterable<LatencyRecord> | Iterable<LatencyRecord>, opts: PlotDataOptions = {}): Promise<void> {
  const data = await plotData(records, opts);
  await writePlot(file, latencyPlotSpec(data, PLOT_TITLE), PLOT_TITLE);
}
