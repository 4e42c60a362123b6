import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  applySetting,
  ConfigError,
  decodeKey,
  defaultConfig,
  envName,
  findParam,
  loadConfig,
  PARAMS,
  parseSize,
  usage,
} from '../../src/config.js';

let dir: string;
let fileCount = 0;
before(() => (dir = mkdtempSync(join(tmpdir(), 'heck-config-test-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a config file in the test's temp directory and returns its path. */
function configFile(text: string): string {
  const path = join(dir, `heck-${++fileCount}.conf`);
  writeFileSync(path, text);
  return path;
}

/** Asserts that `fn` throws a ConfigError whose message is exactly `message` (or matches it). */
function throwsConfig(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.name, 'ConfigError');
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

const HEX_KEY = '00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF';
const B64_BYTES = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff));
const B64_KEY = B64_BYTES.toString('base64'); // 44 chars, one '='

describe('loadConfig: defaults and sources', () => {
  test('no flags, no environment: the defaults, with bus-port = port + 10000', () => {
    const { config, configFile: file, help, version } = loadConfig([], {});
    assert.deepEqual(config, { ...defaultConfig(), busPort: 16380 });
    assert.equal(file, null);
    assert.equal(help, false);
    assert.equal(version, false);
  });

  test('defaults: Redis limits for the query buffer and bulk length', () => {
    const d = defaultConfig();
    assert.equal(d.clientQueryBufferLimitBytes, 1024 ** 3);
    assert.equal(d.protoMaxBulkLenBytes, 512 * 1024 ** 2);
    assert.equal(d.maxclients, 10000);
  });

  test('precedence: defaults < config file < environment < command line', () => {
    const file = configFile('port 7000\nmaxclients 50\nlog-level warn\nrequirepass fromfile\n');
    const env = { HECK_PORT: '7001', HECK_MAXCLIENTS: '60' };
    const argv = ['--config', file, '--port', '7002'];

    const all = loadConfig(argv, env).config;
    assert.equal(all.port, 7002, 'flag beats env and file');
    assert.equal(all.maxclients, 60, 'env beats file');
    assert.equal(all.logLevel, 'warn', 'file beats default');
    assert.equal(all.requirepass, 'fromfile');
    assert.equal(all.bind, '127.0.0.1', 'default kept');

    assert.equal(loadConfig(['--config', file], env).config.port, 7001, 'env beats file');
    assert.equal(loadConfig(['--config', file], {}).config.port, 7000, 'file beats default');
  });

  test('the file is named by --config or by HECK_CONFIG; --config wins', () => {
    const a = configFile('port 7100\n');
    const b = configFile('port 7200\n');
    const viaEnv = loadConfig([], { HECK_CONFIG: a });
    assert.equal(viaEnv.config.port, 7100);
    assert.equal(viaEnv.configFile, a);
    const both = loadConfig([`--config=${b}`], { HECK_CONFIG: a });
    assert.equal(both.config.port, 7200);
    assert.equal(both.configFile, b);
  });

  test('every setting has an environment name HECK_<NAME> with dashes as underscores', () => {
    assert.equal(envName(findParam('client-query-buffer-limit')!), 'HECK_CLIENT_QUERY_BUFFER_LIMIT');
    assert.equal(envName(findParam('port')!), 'HECK_PORT');
    for (const param of PARAMS) assert.match(envName(param), /^HECK_[A-Z0-9_]+$/);
  });

  test('environment variables set every kind of setting', () => {
    const { config } = loadConfig([], {
      HECK_BIND: '0.0.0.0',
      HECK_DIR: '/var/lib/heck',
      HECK_PROFILE: 'local',
      HECK_LOG_LEVEL: 'debug',
      HECK_TIMEOUT: '300',
      HECK_CLIENT_OUTPUT_BUFFER_LIMIT_PUBSUB: '64mb 16mb 30',
      HECK_CLUSTER_KEY: HEX_KEY,
    });
    assert.equal(config.bind, '0.0.0.0');
    assert.equal(config.dir, '/var/lib/heck');
    assert.equal(config.profile, 'local');
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.idleTimeoutSec, 300);
    assert.deepEqual(config.outputLimitPubsub, { hardBytes: 64 * 1024 ** 2, softBytes: 16 * 1024 ** 2, softSeconds: 30 });
    assert.equal(config.clusterKey, HEX_KEY);
  });

  test('unrelated environment variables are ignored', () => {
    assert.deepEqual(loadConfig([], { HOME: '/root', HECK_NOPE: 'x', PORT: '1' }).config.port, 6380);
  });
});

describe('loadConfig: command line', () => {
  test('--name value and --name=value', () => {
    assert.equal(loadConfig(['--port', '7005'], {}).config.port, 7005);
    assert.equal(loadConfig(['--port=7006'], {}).config.port, 7006);
  });

  test('--name=value keeps everything after the first =', () => {
    assert.equal(loadConfig(['--requirepass=a=b=c'], {}).config.requirepass, 'a=b=c');
  });

  test('--name= gives an empty value', () => {
    assert.equal(loadConfig(['--requirepass='], {}).config.requirepass, '');
  });

  test('later flags win over earlier ones', () => {
    assert.equal(loadConfig(['--port', '7001', '--port=7002'], {}).config.port, 7002);
  });

  test('-h/--help and -v/--version are reported, not errors', () => {
    assert.equal(loadConfig(['-h'], {}).help, true);
    assert.equal(loadConfig(['--help'], {}).help, true);
    assert.equal(loadConfig(['-v'], {}).version, true);
    assert.equal(loadConfig(['--version', '--port', '7000'], {}).version, true);
  });

  test('option names are matched case-insensitively', () => {
    assert.equal(loadConfig(['--PORT', '7010'], {}).config.port, 7010);
  });

  test('unknown option', () => {
    throwsConfig(() => loadConfig(['--nope', '1'], {}), "unknown option '--nope' (see --help)");
    throwsConfig(() => loadConfig(['--nope=1'], {}), "unknown option '--nope' (see --help)");
  });

  test('missing value', () => {
    throwsConfig(() => loadConfig(['--port'], {}), 'option --port needs a value');
    throwsConfig(() => loadConfig(['--config'], {}), 'option --config needs a value');
  });

  test('a bare word is not an option', () => {
    throwsConfig(() => loadConfig(['7000'], {}), "unexpected argument '7000' (settings are given as --name value)");
    throwsConfig(() => loadConfig(['-p', '7000'], {}), /unexpected argument '-p'/);
  });
});

describe('loadConfig: invalid values name the source, the value and the setting', () => {
  const cases: [string[], string][] = [
    [['--port', 'abc'], "option --port: invalid value 'abc' for port: argument couldn't be parsed into an integer"],
    [['--port', '70000'], "option --port: invalid value '70000' for port: argument must be between 0 and 65535 inclusive"],
    [['--port', '-1'], "option --port: invalid value '-1' for port: argument must be between 0 and 65535 inclusive"],
    [['--port', '1.5'], "option --port: invalid value '1.5' for port: argument couldn't be parsed into an integer"],
    [['--port', ''], "option --port: invalid value '' for port: argument couldn't be parsed into an integer"],
    [['--bus-port', '65536'], "option --bus-port: invalid value '65536' for bus-port: argument must be between 0 and 65535 inclusive"],
    [['--maxclients', '0'], "option --maxclients: invalid value '0' for maxclients: argument must be between 1 and 1000000 inclusive"],
    [['--profile', 'wan'], "option --profile: invalid value 'wan' for profile: argument must be one of lan, local"],
    [['--log-level', 'loud'], "option --log-level: invalid value 'loud' for log-level: argument must be one of debug, info, warn, error"],
    [['--bind', 'example.com'], "option --bind: invalid value 'example.com' for bind: argument must be an IP address"],
    [['--dir', ''], "option --dir: invalid value '' for dir: argument must not be empty"],
    [['--client-query-buffer-limit', 'lots'], "option --client-query-buffer-limit: invalid value 'lots' for client-query-buffer-limit: argument must be a memory value"],
    [['--client-query-buffer-limit', '1000kb'], "option --client-query-buffer-limit: invalid value '1000kb' for client-query-buffer-limit: argument must be at least 1048576"],
    [['--proto-max-bulk-len', '1m'], "option --proto-max-bulk-len: invalid value '1m' for proto-max-bulk-len: argument must be at least 1048576"],
    [['--client-output-buffer-limit-normal', '1mb 1mb'], "option --client-output-buffer-limit-normal: invalid value '1mb 1mb' for client-output-buffer-limit-normal: argument must be <hard> <soft> <soft-seconds>"],
    [['--cluster-key', 'abc'], "option --cluster-key: invalid value 'abc' for cluster-key: each key must be 32 bytes, as 64 hex digits or base64"],
  ];
  for (const [argv, message] of cases) {
    test(argv.join(' ') || '(empty)', () => throwsConfig(() => loadConfig(argv, {}), message));
  }

  test('an invalid environment value names the variable', () => {
    throwsConfig(
      () => loadConfig([], { HECK_PORT: 'x' }),
      "environment HECK_PORT: invalid value 'x' for port: argument couldn't be parsed into an integer",
    );
  });

  test('a bad value is reported even when a later source would override it', () => {
    throwsConfig(() => loadConfig(['--port', '7000'], { HECK_PORT: 'x' }), /^environment HECK_PORT: /);
  });

  test('valid edge values', () => {
    assert.equal(loadConfig(['--port', '0'], {}).config.port, 0);
    assert.equal(loadConfig(['--port', '65535', '--bus-port', '1'], {}).config.port, 65535);
    assert.equal(loadConfig(['--bind', '::1'], {}).config.bind, '::1');
    assert.equal(loadConfig(['--bind', 'localhost'], {}).config.bind, '127.0.0.1');
    assert.equal(loadConfig(['--profile', 'LOCAL'], {}).config.profile, 'local');
    assert.equal(loadConfig(['--client-query-buffer-limit', '1mb'], {}).config.clientQueryBufferLimitBytes, 1024 * 1024);
  });

  test('Redis log level names are aliases', () => {
    assert.equal(loadConfig(['--log-level', 'verbose'], {}).config.logLevel, 'debug');
    assert.equal(loadConfig(['--log-level', 'notice'], {}).config.logLevel, 'info');
    assert.equal(loadConfig(['--log-level', 'warning'], {}).config.logLevel, 'warn');
  });
});

describe('loadConfig: bus port', () => {
  test('defaults to port + 10000', () => {
    assert.equal(loadConfig(['--port', '7000'], {}).config.busPort, 17000);
    assert.equal(loadConfig([], { HECK_PORT: '6000' }).config.busPort, 16000);
  });

  test('an explicit bus port is kept', () => {
    assert.equal(loadConfig(['--port', '7000', '--bus-port', '8000'], {}).config.busPort, 8000);
  });

  test('port 0 (any free port) leaves bus-port 0 to be chosen later', () => {
    assert.equal(loadConfig(['--port', '0'], {}).config.busPort, 0);
  });

  test('a port above 55535 needs an explicit bus port', () => {
    throwsConfig(() => loadConfig(['--port', '55536'], {}), 'port 55536 + 10000 is not a valid bus port; set --bus-port');
    assert.equal(loadConfig(['--port', '55535'], {}).config.busPort, 65535);
    assert.equal(loadConfig(['--port', '60000', '--bus-port', '60001'], {}).config.busPort, 60001);
  });
});

describe('loadConfig: metrics port', () => {
  test('off unless given; 0 asks for any free port', () => {
    assert.equal(defaultConfig().metricsPort, null);
    assert.equal(loadConfig([], {}).config.metricsPort, null);
    assert.equal(loadConfig(['--metrics-port', '0'], {}).config.metricsPort, 0);
  });

  test('from the command line, the environment and the config file; an empty value turns it off', () => {
    assert.equal(loadConfig(['--metrics-port=9121'], {}).config.metricsPort, 9121);
    assert.equal(loadConfig([], { HECK_METRICS_PORT: '9122' }).config.metricsPort, 9122);
    const file = configFile('metrics-port 9123\n');
    assert.equal(loadConfig(['--config', file], {}).config.metricsPort, 9123);
    assert.equal(loadConfig(['--config', file], { HECK_METRICS_PORT: '' }).config.metricsPort, null);
  });

  test('CONFIG GET shows off as an empty string', () => {
    const param = findParam('metrics-port')!;
    assert.equal(param.format(null as never), '');
    assert.equal(param.format(9121 as never), '9121');
  });

  test('an invalid port names the setting', () => {
    throwsConfig(
      () => loadConfig(['--metrics-port', '65536'], {}),
      "option --metrics-port: invalid value '65536' for metrics-port: argument must be between 0 and 65535 inclusive",
    );
    throwsConfig(
      () => loadConfig([], { HECK_METRICS_PORT: 'x' }),
      "environment HECK_METRICS_PORT: invalid value 'x' for metrics-port: argument couldn't be parsed into an integer",
    );
  });
});

describe('parseSize', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['100', 100],
    ['100b', 100],
    ['1k', 1000],
    ['1kb', 1024],
    ['1K', 1000],
    ['1KB', 1024],
    ['1Kb', 1024],
    ['1m', 1_000_000],
    ['1mb', 1024 * 1024],
    ['5mb', 5 * 1024 * 1024],
    ['1g', 1_000_000_000],
    ['1gb', 1024 ** 3],
    ['2GB', 2 * 1024 ** 3],
  ];
  for (const [text, value] of ok) test(`${text} = ${value}`, () => assert.equal(parseSize(text), value));

  const bad = ['', 'k', 'kb', '1x', '1kib', '1.5mb', '-1', ' 1k', '1k ', '1 k', '1tb'];
  for (const text of bad) {
    test(`${JSON.stringify(text)} is not a memory value`, () => throwsConfig(() => parseSize(text), 'argument must be a memory value'));
  }
});

describe('cluster-key', () => {
  test('64 hex digits (either case)', () => {
    assert.equal(loadConfig(['--cluster-key', HEX_KEY], {}).config.clusterKey, HEX_KEY);
    assert.deepEqual(decodeKey(HEX_KEY), Buffer.from(HEX_KEY, 'hex'));
  });

  test('base64 of 32 bytes, padded or not', () => {
    assert.equal(B64_KEY.length, 44);
    assert.equal(loadConfig(['--cluster-key', B64_KEY], {}).config.clusterKey, B64_KEY);
    assert.deepEqual(decodeKey(B64_KEY), B64_BYTES);
    assert.deepEqual(decodeKey(B64_KEY.slice(0, 43)), B64_BYTES);
  });

  test('a comma-separated list of keys, spaces around commas allowed', () => {
    const list = `${HEX_KEY},${B64_KEY}, ${HEX_KEY.toLowerCase()}`;
    assert.equal(loadConfig(['--cluster-key', list], {}).config.clusterKey, list);
  });

  test('empty means off', () => {
    assert.equal(loadConfig(['--cluster-key', ''], {}).config.clusterKey, '');
  });

  const message = /each key must be 32 bytes, as 64 hex digits or base64$/;
  const bad: [string, string][] = [
    ['63 hex digits', HEX_KEY.slice(1)],
    ['65 hex digits', HEX_KEY + '0'],
    ['hex with a non-hex digit', 'g' + HEX_KEY.slice(1)],
    ['base64 of 31 bytes', Buffer.alloc(31, 7).toString('base64')],
    ['base64 of 33 bytes', Buffer.alloc(33, 7).toString('base64')],
    ['one bad key in a list', `${HEX_KEY},nope`],
    ['an empty entry in a list', `${HEX_KEY},`],
  ];
  for (const [name, key] of bad) {
    test(name, () => {
      throwsConfig(() => loadConfig(['--cluster-key', key], {}), message);
      if (!key.includes(',')) assert.equal(decodeKey(key), null);
    });
  }
});

describe('config file', () => {
  test('comments, blank lines, indentation, quotes and CRLF line ends', () => {
    const file = configFile(
      [
        '# Heck configuration',
        '',
        '   # indented comment',
        '  port 7300  ',
        'requirepass "secret with spaces"',
        "dir '/tmp/heck data'",
        'client-output-buffer-limit-pubsub "64mb 16mb 30"',
        'LOG-LEVEL warning\r',
        '\t',
      ].join('\n'),
    );
    const { config } = loadConfig(['--config', file], {});
    assert.equal(config.port, 7300);
    assert.equal(config.requirepass, 'secret with spaces');
    assert.equal(config.dir, '/tmp/heck data');
    assert.deepEqual(config.outputLimitPubsub, { hardBytes: 64 * 1024 ** 2, softBytes: 16 * 1024 ** 2, softSeconds: 30 });
    assert.equal(config.logLevel, 'warn');
  });

  test('an empty file changes nothing', () => {
    const file = configFile('');
    assert.deepEqual(loadConfig(['--config', file], {}).config, loadConfig([], {}).config);
  });

  test('a line without a value is reported with file:line', () => {
    const file = configFile('# comment\nport 7000\nmaxclients\n');
    throwsConfig(() => loadConfig(['--config', file], {}), `${file}:3: expected 'name value'`);
  });

  test('a line with too many words is reported with file:line', () => {
    const file = configFile('port 7000 7001\n');
    throwsConfig(() => loadConfig(['--config', file], {}), `${file}:1: expected 'name value'`);
  });

  test('unbalanced quotes are reported with file:line', () => {
    const file = configFile('\n\nrequirepass "abc\n');
    throwsConfig(() => loadConfig(['--config', file], {}), `${file}:3: expected 'name value'`);
  });

  test('an unknown setting is reported with file:line', () => {
    const file = configFile('port 7000\nnope 1\n');
    throwsConfig(() => loadConfig(['--config', file], {}), `${file}:2: unknown setting 'nope'`);
  });

  test('an invalid value is reported with file:line', () => {
    const file = configFile('port 7000\n\n\nmaxclients many\n');
    throwsConfig(
      () => loadConfig(['--config', file], {}),
      `${file}:4: invalid value 'many' for maxclients: argument couldn't be parsed into an integer`,
    );
  });

  test('a missing file is a ConfigError naming it', () => {
    const missing = join(dir, 'does-not-exist.conf');
    throwsConfig(() => loadConfig(['--config', missing], {}), new RegExp(`^cannot read config file ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });
});

describe('settings table', () => {
  test('findParam is case-insensitive and knows every setting', () => {
    assert.equal(findParam('PORT')?.key, 'port');
    assert.equal(findParam('nope'), undefined);
    for (const p of PARAMS) assert.equal(findParam(p.name), p);
  });

  test('applySetting names the origin in its errors', () => {
    const c = defaultConfig();
    applySetting(c, 'maxclients', '5', 'CONFIG SET');
    assert.equal(c.maxclients, 5);
    throwsConfig(() => applySetting(c, 'nope', '1', 'CONFIG SET'), "CONFIG SET: unknown setting 'nope'");
    throwsConfig(
      () => applySetting(c, 'maxclients', 'x', 'CONFIG SET'),
      "CONFIG SET: invalid value 'x' for maxclients: argument couldn't be parsed into an integer",
    );
  });

  test('every default formats to text that parses back to itself', () => {
    const d = defaultConfig();
    for (const p of PARAMS) {
      const text = p.format(d[p.key] as never);
      const c = defaultConfig();
      applySetting(c, p.name, text, 'test');
      assert.deepEqual(c[p.key], d[p.key], p.name);
    }
  });

  test('usage() lists every option', () => {
    const text = usage();
    for (const p of PARAMS) assert.ok(text.includes(`--${p.name}`), p.name);
  });
});
