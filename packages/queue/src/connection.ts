import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

/** Where the queue lives: ioredis options and a printable form of the address without its password. */
export interface QueueConnection {
  options: RedisOptions;
  /** `redis://:***@host:6379/0`: the address as logs, errors and sweep.json show it. */
  where: string;
  /** The password, to be blanked out of any text that might echo it. */
  secret?: string;
}

/** A Redis address that is wrong, unreachable, or refuses the password: a message a person can act on. */
export class QueueConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueConnectionError';
  }
}

/** The variable a password comes from when the URL has none (keeps it out of `ps` and shell history). */
export const PASSWORD_ENV = 'FERMIX_REDIS_PASSWORD';
/** rediss://: a PEM file of the certificate authority that signed the server's certificate, when not a public one. */
export const CA_ENV = 'FERMIX_REDIS_CA';

const FORM = 'redis://[[user]:password@]host[:port][/db] or rediss://... (TLS)';

/**
 * Reads `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). Without a password in
 * the URL, FERMIX_REDIS_PASSWORD is used. The options reconnect forever (what BullMQ's workers need:
 * Redis may restart under them); `checkConnection` is the one-shot test of an address.
 */
export function parseQueueUrl(url: string, env: NodeJS.ProcessEnv = process.env): QueueConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new QueueConnectionError(`--queue expects ${FORM}, got "${blankUrlPassword(url)}"`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new QueueConnectionError(`--queue expects ${FORM}, got a ${parsed.protocol}// address`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new QueueConnectionError(`--queue: the database after the host must be a number (redis://host:6379/0), got "/${db}"`);
  const password = parsed.password ? decodeURIComponent(parsed.password) : env[PASSWORD_ENV] || undefined;
  const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : 6379;
  const tls = parsed.protocol === 'rediss:';
  let ca: string | undefined;
  if (tls && env[CA_ENV]) {
    try {
      ca = readFileSync(env[CA_ENV]!, 'utf8');
    } catch (err) {
      throw new QueueConnectionError(`${CA_ENV}=${env[CA_ENV]}: cannot read the certificate authority's file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const options: RedisOptions = {
    host,
    port,
    db: db === '' ? 0 : Number(db),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls: { servername: host, ...(ca ? { ca } : {}) } } : {}),
    // BullMQ's blocking commands wait for a reconnect instead of failing after a few retries.
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(250 * times, 2000),
    connectTimeout: 10_000,
  };
  const auth = username ? `${username}:***@` : password ? ':***@' : '';
  return { options, where: `${parsed.protocol}//${auth}${parsed.host || host}/${options.db}`, secret: password };
}

/** `text` with the password (and its URL-encoded form) blanked out. */
export function redact(text: string, connection: Pick<QueueConnection, 'secret'>): string {
  const { secret } = connection;
  if (!secret) return text;
  let out = text;
  for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('***');
  return out;
}

function blankUrlPassword(url: string): string {
  return url.replace(/(\/\/[^/@:]*:)[^@/]*@/, '$1***@');
}

/**
 * Connects once, without retrying, and asks Redis for its version: throws QueueConnectionError
 * saying what is wrong (refused, unreachable, wrong or missing password, Redis older than 5).
 */
export async function checkConnection(connection: QueueConnection): Promise<{ redisVersion: string }> {
  const client = new Redis({ ...connection.options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: Error | undefined;
  client.on('error', (err: Error) => (lastError = err));
  try {
    await client.connect();
    const info = await client.info('server');
    const redisVersion = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? '?';
    if (Number(redisVersion.split('.')[0]) < 5) throw new QueueConnectionError(`Redis at ${connection.where} is version ${redisVersion}; BullMQ needs Redis 5 or later`);
    return { redisVersion };
  } catch (err) {
    if (err instanceof QueueConnectionError) throw err;
    throw new QueueConnectionError(explain(connection, (lastError && /WRONGPASS|NOAUTH|ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|certificate|SSL/.test(lastError.message) ? lastError : (err as Error))));
  } finally {
    client.disconnect();
  }
}

function explain(connection: QueueConnection, err: Error): string {
  const message = redact(err.message, connection);
  const { where } = connection;
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) {
    return `Redis at ${where} refused the password (${message.split('\n')[0]}); check the password in the --queue URL or in ${PASSWORD_ENV}`;
  }
  if (/NOAUTH/.test(message)) return `Redis at ${where} needs a password: put it in the URL (redis://:password@host:6379/0) or in ${PASSWORD_ENV}`;
  if (/ECONNREFUSED/.test(message)) return `cannot reach Redis at ${where}: connection refused (is redis-server running there, on that port?)`;
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return `cannot reach Redis at ${where}: the host name is not known`;
  if (/certificate|self.signed|SSL|TLS/i.test(message)) return `cannot use Redis at ${where}: TLS failed (${message}); for a certificate authority of your own, give its PEM file in ${CA_ENV}`;
  if (/ETIMEDOUT|timed? ?out/i.test(message)) return `cannot reach Redis at ${where}: no answer within 10 s (a firewall, or the wrong host?)`;
  return `cannot use Redis at ${where}: ${message}`;
}
