import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  BrokerConnection,
  declareStage,
  declareTopicExchange,
  flowNamingFor,
  flowTopology,
  Publisher,
  readCredentials,
  withCredentials,
  type FlowConfig,
  type LoadedConfig,
} from '@hpcmirror/core';

export type BrokerInputConfig = FlowConfig & Pick<LoadedConfig, 'broker' | 'credentials'>;

/** The broker URL with its password filled in from the credentials file, if one is configured. */
export function brokerUrlOf(config: Pick<LoadedConfig, 'broker' | 'credentials'>): string {
  if (!config.credentials) return config.broker.url;
  const file = config.credentials.startsWith('~/') ? join(homedir(), config.credentials.slice(2)) : config.credentials;
  return withCredentials(config.broker.url, readCredentials(file));
}

export function connectBroker(config: Pick<LoadedConfig, 'broker' | 'credentials'>, logger: Logger, name: string): BrokerConnection {
  return new BrokerConnection({
    url: brokerUrlOf(config),
    logger,
    heartbeatS: config.broker.heartbeat_s,
    reconnectS: config.broker.reconnect_s,
    connectionName: name,
    ...(config.broker.tls && { tls: config.broker.tls }),
  });
}

/**
 * A confirming publisher to the flow's source exchange. Its channel setup also declares the
 * winnow stage (hash exchange, shard queues bound to the source exchange), so that nothing
 * published before the winnow first runs is unroutable, and therefore lost.
 */
export function sourcePublisher(connection: BrokerConnection, config: BrokerInputConfig): Publisher {
  const stage = flowTopology(flowNamingFor(config)).winnow;
  return new Publisher(connection, {
    timeoutMs: config.broker.publish_timeout_ms,
    setup: async (ch) => {
      await declareTopicExchange(ch, config.exchange);
      await declareStage(ch, stage);
    },
  });
}
