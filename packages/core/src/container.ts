import path from 'node:path';
import { Container } from 'inversify';
import { selectBackend, type BackendChoice } from './backend/select.js';
import { CheckpointStore } from './checkpoint.js';
import type { FermixConfig } from './config/schema.js';
import { createAffectNetSource } from './data/affectnet.js';
import { createFer2013CsvSource } from './data/fer2013-csv.js';
import { createImageFolderSource } from './data/image-folder.js';
import { createRafdbSource } from './data/rafdb.js';
import { DataError, type DataSource } from './data/source.js';
import { createSyntheticSource } from './data/synthetic.js';
import type { Logger } from './logger.js';
import { BackboneRegistry, PluginRegistry } from './registry.js';

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
  PluginRegistry: Symbol.for('fermix.PluginRegistry'),
  CheckpointStore: Symbol.for('fermix.CheckpointStore'),
} as const;

/** Makes a tfjs backend active; rebind it to choose the backend yourself. */
export interface BackendService {
  select(): Promise<BackendChoice>;
}

/** The data source a config asks for. */
export function dataSourceFor(config: FermixConfig): DataSource {
  const { data } = config;
  // Relative to the config file; validateConfig has already resolved imagefolder's (resolving twice is harmless).
  const root = () => {
    if (!data.root) throw new DataError(`data.root is required for format ${data.format}`);
    return path.resolve(config.baseDir, data.root);
  };
  switch (data.format) {
    case 'imagefolder':
      return createImageFolderSource({ root: data.root!, align: data.align });
    case 'synthetic':
      return createSyntheticSource({ seed: config.seed, trainPerClass: data.trainPerClass, testPerClass: data.testPerClass });
    case 'rafdb':
      return createRafdbSource({ root: root(), onMissing: data.onMissing, align: data.align });
    case 'fer2013-csv':
      return createFer2013CsvSource({ file: root() });
    case 'affectnet':
      return createAffectNetSource({ root: root(), classes: data.affectnetClasses, onMissing: data.onMissing, align: data.align });
  }
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
  container.bind<DataSource>(TOKENS.DataSource).toDynamicValue(() => dataSourceFor(config)).inSingletonScope();
  container.bind<BackboneRegistry>(TOKENS.BackboneRegistry).toConstantValue(new BackboneRegistry());
  container.bind<PluginRegistry>(TOKENS.PluginRegistry).toConstantValue(new PluginRegistry());
  container.bind<CheckpointStore>(TOKENS.CheckpointStore).toConstantValue(new CheckpointStore());
  return container;
}

export { Container };
