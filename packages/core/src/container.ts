import { Container } from 'inversify';

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

export { Container };
