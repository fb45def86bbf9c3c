import { Container } from 'inversify';
import { selectBackend, type BackendChoice } from './backend/select.js';
import { CheckpointStore } from './checkpoint.js';
import type { FermixConfig } from './config/schema.js';
import type { DataSource } from './data/source.js';
import type { Logger } from './logger.js';
import { BackboneRegistry, DataSourceRegistry, PluginRegistry } from './registry.js';

/**
 * Service tokens. Each service is bound with an explicit token (never by type: the build emits no
 * decorator metadata), so a user can rebind any of them before training starts.
 */
export const TOKENS = {
  Config: Symbol.for('fermix.Config'),
  Logger: Symbol.for('fermix.Logger'),
  Backend: Symbol.for('fermix.Backend'),
  DataSource: Symbol.for('fermix.DataSource'),
  BackboneRegistry: Symbol.for('fermix.BackboneRegistry'),
  DataSourceRegistry: Symbol.for('fermix.DataSourceRegistry'),
  PluginRegistry: Symbol.for('fermix.PluginRegistry'),
  CheckpointStore: Symbol.for('fermix.CheckpointStore'),
} as const;

/** Makes a tfjs backend active; rebind it to choose the backend yourself. */
export interface BackendService {
  select(): Promise<BackendChoice>;
}

/**
 * A container with every default service bound. Rebind any of them (`container.unbind(TOKENS.X)`
 * then `container.bind(TOKENS.X)...`) before handing the container to the Trainer.
 */
export function createContainer(config: FermixConfig, logger: Logger): Container {
  const container = new Container();
  container.bind<FermixConfig>(TOKENS.Config).toConstantValue(config);
  container.bind<Logger>(TOKENS.Logger).toConstantValue(logger);
  container.bind<BackendService>(TOKENS.Backend).toDynamicValue(() => ({ select: () => selectBackend(config.backend, logger, { threads: config.threads, accelerator: config.accelerator, searchFrom: config.baseDir }) })).inSingletonScope();
  // The source of data.format, from the formats registered by the time it is first asked for
  // (@fermix/data's registerDataFormats, dataPackages).
  const formats = new DataSourceRegistry();
  container.bind<DataSourceRegistry>(TOKENS.DataSourceRegistry).toConstantValue(formats);
  container.bind<DataSource>(TOKENS.DataSource).toDynamicValue(() => formats.create(config, logger)).inSingletonScope();
  container.bind<BackboneRegistry>(TOKENS.BackboneRegistry).toConstantValue(new BackboneRegistry());
  container.bind<PluginRegistry>(TOKENS.PluginRegistry).toConstantValue(new PluginRegistry());
  container.bind<CheckpointStore>(TOKENS.CheckpointStore).toConstantValue(new CheckpointStore());
  return container;
}

export { Container };
