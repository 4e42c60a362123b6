import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { splitInline } from './resp/inline.js';
import { LOG_LEVELS, type LogLevel } from './runtime/logger.js';

/**
 * One table of settings drives the command line (`--port 6380`), the environment (`HECK_PORT`),
 * the config file (`port 6380`, Redis style) and `CONFIG GET/SET`, so the four never disagree.
 * Precedence: defaults < config file < environment < command line.
 */
export const PROFILES = ['lan', 'local'] as const;
export type Profile = (typeof PROFILES)[number];

export interface OutputLimit {
  hardBytes: number;
  softBytes: number;
  softSeconds: number;
}

export interface Config {
  port: number;
  /** 0 = port + 10000 */
  busPort: number;
  bind: string;
  dir: string;
  requirepass: string;
  profile: Profile;
  /** Comma-separated keys (first encrypts, all decrypt), each 32 bytes as 64 hex or base64; '' = off. */
  clusterKey: string;
  /** Authenticated with every encrypted bus message, so two clusters sharing a key never merge. */
  clusterName: string;
  logLevel: LogLevel;
  maxclients: number;
  /** Seconds a client may stay idle before it is closed; 0 = never. */
  idleTimeoutSec: number;
  clientQueryBufferLimitBytes: number;
  protoMaxBulkLenBytes: number;
  outputLimitNormal: OutputLimit;
  outputLimitPubsub: OutputLimit;
  /** Seconds a removed origin's tombstone is kept before it is garbage-collected. */
  tombstoneGraceSec: number;
  /** Whether this node probes the origins it owns (off: it replicates and answers, probes nothing). */
  probing: boolean;
  /** Whether HECK.FAULT exists (chaos tests: bus partitions, clock skew); never on in production. */
  faultInjection: boolean;
  /** Port of the Prometheus endpoint on `bind`; null = off (0 = any free port). */
  metricsPort: number | null;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Param<K extends keyof Config = keyof Config> {
  name: string;
  key: K;
  mutable: boolean;
  help: string;
  parse(text: string): Config[K];
  format(value: Config[K]): string;
}

const KB = 1024;
const MB = 1024 * KB;
const GB = 1024 * MB;

function int(min: number, max: number) {
  return (text: string): number => {
    if (!/^-?\d+$/.test(text)) throw new ConfigError(`argument couldn't be parsed into an integer`);
    const n = Number(text);
    if (n < min || n > max) throw new ConfigError(`argument must be between ${min} and ${max} inclusive`);
    return n;
  };
}

/** Byte sizes as Redis reads them: 100, 1k (1000), 1kb (1024), 5mb, 1gb. */
export function parseSize(text: string): number {
  const m = /^(\d+)(b|k|kb|m|mb|g|gb)?$/i.exec(text);
  if (!m) throw new ConfigError(`argument must be a memory value`);
  const unit: Record<string, number> = { b: 1, k: 1000, kb: KB, m: 1e6, mb: MB, g: 1e9, gb: GB };
  return Number(m[1]) * unit[(m[2] ?? 'b').toLowerCase()]!;
}

function size(min: number) {
  return (text: string): number => {
    const n = parseSize(text);
    if (n < min) throw new ConfigError(`argument must be at least ${min}`);
    return n;
  };
}

function oneOf<T extends string>(values: readonly T[], aliases: Record<string, T> = {}) {
  return (text: string): T => {
    const v = text.toLowerCase();
    if ((values as readonly string[]).includes(v)) return v as T;
    if (aliases[v]) return aliases[v];
    throw new ConfigError(`argument must be one of ${values.join(', ')}`);
  };
}

function outputLimit(text: string): OutputLimit {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) throw new ConfigError('argument must be <hard> <soft> <soft-seconds>');
  return { hardBytes: parseSize(parts[0]!), softBytes: parseSize(parts[1]!), softSeconds: int(0, 2 ** 31)(parts[2]!) };
}

function yesNo(text: string): boolean {
  const v = text.toLowerCase();
  if (v === 'yes') return true;
  if (v === 'no') return false;
  throw new ConfigError('argument must be yes or no');
}

const formatLimit = (l: OutputLimit) => `${l.hardBytes} ${l.softBytes} ${l.softSeconds}`;
const str = (t: string) => t;

function clusterKey(text: string): string {
  if (text === '') return '';
  for (const key of text.split(',')) {
    if (!decodeKey(key)) throw new ConfigError('each key must be 32 bytes, as 64 hex digits or base64');
  }
  return text;
}

/** A cluster key as bytes, or null when it is not 32 bytes in hex or base64. */
export function decodeKey(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    return b.length === 32 ? b : null;
  }
  return null;
}

/** Off by default: any fixed default port could clash with something already on the machine. */
function optionalPort(text: string): number | null {
  return text === '' ? null : int(0, 65535)(text);
}

/** An IP literal: peers are told this address, so it must be one they can dial as it is. */
function bindAddress(text: string): string {
  if (text === 'localhost') return '127.0.0.1';
  if (isIP(text) === 0) throw new ConfigError('argument must be an IP address');
  return text;
}

function p<K extends keyof Config>(param: Param<K>): Param {
  return param as unknown as Param;
}

export const PARAMS: readonly Param[] = [
  p({ name: 'port', key: 'port', mutable: false, help: 'RESP port (0 = any free port)', parse: int(0, 65535), format: String }),
  p({ name: 'bus-port', key: 'busPort', mutable: false, help: 'cluster bus port (0 = port + 10000)', parse: int(0, 65535), format: String }),
  p({ name: 'bind', key: 'bind', mutable: false, help: 'address to listen on', parse: bindAddress, format: str }),
  p({ name: 'dir', key: 'dir', mutable: false, help: 'data directory', parse: (t) => { if (!t) throw new ConfigError('argument must not be empty'); return t; }, format: str }),
  p({ name: 'requirepass', key: 'requirepass', mutable: true, help: "password clients must AUTH with ('' = none)", parse: str, format: str }),
  p({ name: 'profile', key: 'profile', mutable: false, help: 'membership timers: lan or local', parse: oneOf(PROFILES), format: str }),
  p({ name: 'cluster-key', key: 'clusterKey', mutable: false, help: 'bus encryption keys, comma-separated, first is used to send', parse: clusterKey, format: str }),
  p({ name: 'cluster-name', key: 'clusterName', mutable: false, help: 'name bound into encrypted bus messages', parse: (t) => { if (!/^[\x21-\x7e]{1,64}$/.test(t)) throw new ConfigError('argument must be 1-64 printable characters without spaces'); return t; }, format: str }),
  p({ name: 'log-level', key: 'logLevel', mutable: true, help: 'debug, info, warn or error', parse: oneOf(LOG_LEVELS, { verbose: 'debug', notice: 'info', warning: 'warn' }), format: str }),
  p({ name: 'maxclients', key: 'maxclients', mutable: true, help: 'most simultaneous clients', parse: int(1, 1_000_000), format: String }),
  p({ name: 'timeout', key: 'idleTimeoutSec', mutable: true, help: 'close clients idle this many seconds (0 = never)', parse: int(0, 2 ** 31 - 1), format: String }),
  p({ name: 'client-query-buffer-limit', key: 'clientQueryBufferLimitBytes', mutable: true, help: 'most bytes of one pending request', parse: size(MB), format: String }),
  p({ name: 'proto-max-bulk-len', key: 'protoMaxBulkLenBytes', mutable: true, help: 'longest bulk string in a request', parse: size(MB), format: String }),
  p({ name: 'client-output-buffer-limit-normal', key: 'outputLimitNormal', mutable: true, help: 'hard soft seconds for ordinary clients (0 = none)', parse: outputLimit, format: formatLimit }),
  p({ name: 'client-output-buffer-limit-pubsub', key: 'outputLimitPubsub', mutable: true, help: 'hard soft seconds for subscribers', parse: outputLimit, format: formatLimit }),
  p({ name: 'probing', key: 'probing', mutable: false, help: 'yes: probe the origins this node owns; no: probe nothing (maintenance, tests of the data layer)', parse: yesNo, format: (v) => (v ? 'yes' : 'no') }),
  p({ name: 'fault-injection', key: 'faultInjection', mutable: false, help: 'yes: HECK.FAULT can cut bus links and skew the clock (chaos tests only)', parse: yesNo, format: (v) => (v ? 'yes' : 'no') }),
  p({ name: 'tombstone-grace', key: 'tombstoneGraceSec', mutable: false, help: 'seconds removals are remembered; a node away longer must not bring old state back (docs/replication.md)', parse: int(60, 10 * 365 * 86400), format: String }),
  p({ name: 'metrics-port', key: 'metricsPort', mutable: false, help: "Prometheus endpoint port, GET /metrics on the bind address ('' = off, 0 = any free port)", parse: optionalPort, format: (v) => (v === null ? '' : String(v)) }),
];

export function defaultConfig(): Config {
  return {
    port: 6380,
    busPort: 0,
    bind: '127.0.0.1',
    dir: './data',
    requirepass: '',
    profile: 'lan',
    clusterKey: '',
    clusterName: 'heck',
    logLevel: 'info',
    maxclients: 10000,
    idleTimeoutSec: 0,
    clientQueryBufferLimitBytes: GB,
    protoMaxBulkLenBytes: 512 * MB,
    outputLimitNormal: { hardBytes: 0, softBytes: 0, softSeconds: 0 },
    outputLimitPubsub: { hardBytes: 32 * MB, softBytes: 8 * MB, softSeconds: 60 },
    tombstoneGraceSec: 7 * 86400,
    probing: true,
    faultInjection: false,
    metricsPort: null,
  };
}

export function findParam(name: string): Param | undefined {
  const n = name.toLowerCase();
  return PARAMS.find((p) => p.name === n);
}

/** Sets one setting from its text form; throws ConfigError with a message that names it. */
export function applySetting(config: Config, name: string, text: string, origin: string): void {
  const param = findParam(name);
  if (!param) throw new ConfigError(`${origin}: unknown setting '${name}'`);
  try {
    (config as unknown as Record<string, unknown>)[param.key] = param.parse(text);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(`${origin}: invalid value '${text}' for ${param.name}: ${e.message}`);
    throw e;
  }
}

export function formatSetting(config: Config, param: Param): string {
  return param.format(config[param.key] as never);
}

export const envName = (param: Param) => 'HECK_' + param.name.toUpperCase().replace(/-/g, '_');

export interface LoadResult {
  config: Config;
  configFile: string | null;
  help: boolean;
  version: boolean;
}

/** Builds the Config from the command line, the environment and an optional config file. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): LoadResult {
  const flags: [string, string][] = [];
  let configFile: string | null = env.HECK_CONFIG ?? null;
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') { help = true; continue; }
    if (arg === '-v' || arg === '--version') { version = true; continue; }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}' (settings are given as --name value)`);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new ConfigError(`option --${name} needs a value`);
    if (name === 'config') configFile = value;
    else if (!findParam(name)) throw new ConfigError(`unknown option '--${name}' (see --help)`);
    else flags.push([name, value]);
  }

  const config = defaultConfig();
  if (configFile !== null) readConfigFile(config, configFile);
  for (const param of PARAMS) {
    const value = env[envName(param)];
    if (value !== undefined) applySetting(config, param.name, value, `environment ${envName(param)}`);
  }
  for (const [name, value] of flags) applySetting(config, name, value, `option --${name}`);
  if (config.busPort === 0 && config.port !== 0) {
    if (config.port + 10000 > 65535) throw new ConfigError(`port ${config.port} + 10000 is not a valid bus port; set --bus-port`);
    config.busPort = config.port + 10000;
  }
  return { config, configFile, help, version };
}

function readConfigFile(config: Config, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${path}:${index + 1}`;
    const words = splitInline(Buffer.from(line));
    if (words === null || words.length !== 2) throw new ConfigError(`${where}: expected 'name value'`);
    applySetting(config, words[0]!.toString(), words[1]!.toString(), where);
  });
}

export function usage(): string {
  const lines = [
    'Usage: heck-server [--config FILE] [--name value ...]',
    '',
    'Every setting can also be given as an environment variable (HECK_NAME) or in the config',
    "file as 'name value'. Command line beats environment beats file.",
    '',
  ];
  const defaults = defaultConfig();
  for (const param of PARAMS) {
    lines.push(`  --${param.name.padEnd(36)}${param.help} (default: '${formatSetting(defaults, param)}')`);
  }
  return lines.join('\n') + '\n';
}
