import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { HpcmError } from '@hpcmirror/core';

export type PlotFormat = 'png' | 'html';

/** The format a --plot file name asks for; anything but .png/.html is a usage error. */
export function plotFormatOf(file: string): PlotFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.html' || ext === '.htm') return 'html';
  throw new HpcmError('HPM_USAGE', `--plot ${file}: the file name must end in .png or .html`);
}

/** Renders a vega spec headless (no browser, no canvas) to SVG text. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const view = new vega.View(vega.parse(spec as vega.Spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG at twice the SVG's size (crisp on high-density screens), on white. */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A self-contained page: the SVG inline, no scripts, nothing fetched. */
export function svgToHtml(svg: string, title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{margin:24px;font-family:sans-serif;background:#fff}svg{max-width:100%;height:auto}</style></head>
<body>
${svg}
</body></html>
`;
}

/** Writes the chart to FILE as PNG or HTML (by its extension). */
export async function writePlot(file: string, spec: Record<string, unknown>, title: string): Promise<void> {
  const format = plotFormatOf(file);
  const svg = await renderSvg(spec);
  try {
    writeFileSync(file, format === 'png' ? svgToPng(svg) : svgToHtml(svg, title));
  } catch (err) {
    throw new HpcmError('HPM_USAGE', `--plot ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}
