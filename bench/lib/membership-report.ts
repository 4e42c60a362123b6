/**
 * Figures, targets and the printed report of the membership bench. Percentiles are nearest-rank
 * (p of n sorted values: the ceil(p/100 × n)-th), so with 30 trials p99 is the slowest trial;
 * a trial that never finished counts as slower than any that did.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg, release } from 'node:os';
import { ROOT } from '../../test/helpers/process.js';
import type { Derived } from './membership-derived.js';
import type { Build, MemberlistDetect, RealTrial } from './membership-real.js';
import type { BytesResult, StressResult, Trial } from './membership-sim.js';
import { codeUnderTest, percentile } from './system.js';

export interface Host {
  cpus: number;
  cpuModel: string;
  memTotalBytes: number;
  kernel: string;
  node: string;
  loadavg: number[];
  /** The commit the code under test sits on, and how many files under src/ test/ bench/ differ from it. */
  commit: string;
  uncommittedFiles: number;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], cwd: ROOT }).trim();
  } catch {
    return 'unknown';
  }
}

/** Like system.ts' describeMachine, without the Redis tools this bench does not need. */
export function describeHost(): Host {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return {
    cpus: Number(sh('nproc', [])),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalBytes: Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0) * 1024,
    kernel: release(),
    // The `node` on PATH is the one bin/heck-server execs.
    node: sh('node', ['--version']),
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    // Read-only git: simulator figures are exact for one version of the code, so name it.
    ...codeUnderTest(ROOT),
  };
}

export interface Summary {
  trials: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  timeouts: number;
}

export function summarize(values: (number | null)[]): Summary {
  return {
    trials: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: percentile(values, 100),
    timeouts: values.filter((v) => v === null).length,
  };
}

export interface SimSize {
  n: number;
  /** 'independent': one seed and one fresh cluster per trial; 'sequential': one cluster, trials in a row. */
  method: 'independent' | 'sequential';
  seeds: string;
  trials: Trial[];
  detect: Summary;
  firstSuspect: Summary;
  join: Summary;
  collateralDeaths: number;
  bytes: BytesResult | null;
  note: string;
  derived: Derived;
}

export interface RealSize {
  n: number;
  heck: { trials: RealTrial[]; detect: Summary; detectFromLogs: Summary; firstSuspectFromLogs: Summary; cpuPercentPerNode: number; failures: string[] };
  memberlist: MemberlistDetect | null;
  derived: Derived;
}

export interface Target {
  name: string;
  limit: string;
  value: string;
  verdict: 'PASS' | 'MISS' | 'SKIP';
}

export interface Results {
  generatedAt: string;
  mode: 'quick' | 'full';
  host: Host;
  profile: string;
  derived: Derived[];
  sim: SimSize[];
  stress: StressResult[];
  real: RealSize[];
  memberlistBuild: Build | null;
  targets: Target[];
  observations: string[];
  wallSeconds: Record<string, number>;
}

const KB = 1000;

export const s = (ms: number | null | undefined, d = 2): string => (ms === null || ms === undefined ? 'timeout' : `${(ms / 1000).toFixed(d)} s`);
const bps = (b: number) => `${Math.round(b).toLocaleString('en-US')} B/s`;
const ratio = (a: number | null, b: number | null): string => (a === null || b === null || a === 0 ? '—' : `${(b / a).toFixed(1)}×`);

function table(header: string[], lines: string[][]): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...lines.map(row)].join('\n');
}

export function checkTargets(r: Pick<Results, 'sim' | 'stress' | 'real'>): Target[] {
  const targets: Target[] = [];
  const add = (name: string, limit: string, value: number | null, pass: boolean | null, show: (v: number | null) => string = s) =>
    targets.push({ name, limit, value: value === null && pass === null ? 'not measured' : show(value), verdict: pass === null ? 'SKIP' : pass ? 'PASS' : 'MISS' });

  const sim10 = r.sim.find((x) => x.n === 10);
  const p50 = sim10?.detect.p50 ?? null;
  const p99 = sim10?.detect.p99 ?? null;
  add('sim N=10 detection p50', '<= 3.00 s', p50, sim10 ? p50 !== null && p50 <= 3000 : null);
  add('sim N=10 detection p99', '<= 5.00 s', p99, sim10 ? p99 !== null && p99 <= 5000 : null);
  if (sim10) {
    const best = sim10.derived.detectBestMs;
    add(`sim N=10 detection p50 vs memberlist derived best case ${s(best)}`, `<= ${s(best / 2)} (2× faster)`, p50, p50 !== null && p50 * 2 <= best);
  } else {
    add('sim N=10 detection p50 vs memberlist derived best case', '2× faster', null, null);
  }
  const real10 = r.real.find((x) => x.n === 10);
  const ml = real10?.memberlist;
  const heckReal = real10?.heck.detect.p50 ?? null;
  if (real10 && ml?.ok) {
    add(`real N=10 Heck detection p50 vs real memberlist p50 ${s(ml.p50Ms)}`, `<= ${s(ml.p50Ms / 2)} (2× faster)`, heckReal, heckReal !== null && heckReal * 2 <= ml.p50Ms);
  } else {
    targets.push({ name: 'real N=10 Heck detection p50 vs real memberlist p50', limit: '2× faster', value: ml && !ml.ok ? `memberlist not measured: ${ml.reason}` : 'memberlist not measured', verdict: 'SKIP' });
  }
  for (const mode of ['loss', 'pause'] as const) {
    const st = r.stress.find((x) => x.mode === mode);
    const label = mode === 'loss' ? '10% uniform packet loss' : '10% of nodes frozen 1.5 s every 5 s';
    add(
      st ? `false deaths, ${label} (N=${st.n}, ${st.durationMs / 60_000} min, ${st.nodeHours.toFixed(1)} node-hours)` : `false deaths, ${label}`,
      '= 0',
      st ? st.falseDeaths : null,
      st ? st.falseDeaths === 0 : null,
      (v) => String(v),
    );
  }
  const sim100 = r.sim.find((x) => x.n === 100);
  add('sim N=100 join reaches every member, p99', '<= 1.50 s', sim100?.join.p99 ?? null, sim100 ? sim100.join.p99 !== null && sim100.join.p99 <= 1500 : null);
  const b50 = r.sim.find((x) => x.n === 50)?.bytes ?? null;
  add('sim N=50 sent bytes per node (mean over nodes)', `<= ${2 * KB} B/s`, b50 ? b50.meanBps : null, b50 ? b50.meanBps <= 2 * KB : null, (v) => (v === null ? '—' : `${bps(v)} (max node ${bps(b50!.maxBps)})`));
  return targets;
}

function hostBlock(h: Host): string {
  return [
    `machine: ${h.cpus} cpus (nproc), ${h.cpuModel}, ${(h.memTotalBytes / 2 ** 30).toFixed(1)} GiB RAM, Linux ${h.kernel}`,
    `load average at start: ${h.loadavg.join(' ')}`,
    `node ${h.node}`,
    `code: commit ${h.commit}${h.uncommittedFiles ? ` + ${h.uncommittedFiles} uncommitted file(s) under src/ test/ bench/` : ', clean'}`,
  ].join('\n');
}

function derivedBlock(sizes: Derived[]): string {
  return [
    'memberlist DefaultLANConfig, DERIVED from its formulas (REFERENCE.md 4.2), not measured:',
    table(
      ['N', 'susp. min', 'susp. max', 'k', 'after 1 conf.', 'retransmits', 'push-pull', 'first suspect', 'detect best / 1 conf / none', 'gossip spread', 'bytes/node (est.)'],
      sizes.map((d) => [
        d.n.toLocaleString('en-US'),
        s(d.suspicionMinMs, 1),
        s(d.suspicionMaxMs, 1),
        String(d.k),
        s(d.afterOneConfirmationMs, 1),
        String(d.retransmitLimit),
        s(d.pushPullIntervalMs, 0),
        s(d.firstSuspectMs),
        `${s(d.detectBestMs, 1)} / ${s(d.detectOneConfirmationMs, 1)} / ${s(d.detectNoConfirmationMs, 1)}`,
        s(d.disseminationMs),
        bps(d.bytesPerSecond),
      ]),
    ),
    'derived: first suspect = e/(e-1) × ProbeInterval (SWIM); detect = first suspect + suspicion timeout (min with k',
    'confirmations in time / after 1 confirmation / max with none) + gossip spread; gossip spread (= derived join) =',
    '(log_4 N + ln N / 3) rounds × 200 ms (Pittel, fan-out 3); bytes = 115 B ping+ack per second + 2 × N × 85 B per',
    'push-pull interval (assumed msgpack sizes; headers excluded; memberlist gossips nothing when idle).',
  ].join('\n');
}

function simBlock(r: Results): string {
  const lines: string[] = [];
  lines.push(`Heck, simulator (test/sim/harness.ts, virtual time, link 1 ms + 0-1 ms jitter), profile ${r.profile}:`);
  lines.push('');
  lines.push('crash detection: kill -9 -> every live member marks it dead');
  lines.push(
    table(
      ['N', 'trials', 'p50', 'p99', 'max', 'first suspect p50', 'memberlist DERIVED best', 'derived/p50', 'false deaths', 'seeds'],
      r.sim.map((x) => [
        x.n.toLocaleString('en-US'),
        `${x.detect.trials}${x.method === 'sequential' ? ' (one cluster)' : ''}`,
        s(x.detect.p50),
        s(x.detect.p99),
        s(x.detect.max),
        s(x.firstSuspect.p50),
        s(x.derived.detectBestMs),
        ratio(x.detect.p50, x.derived.detectBestMs),
        String(x.collateralDeaths),
        x.seeds,
      ]),
    ),
  );
  lines.push('');
  lines.push('join: a new node joins through a random member -> every live member lists it alive');
  lines.push(
    table(
      ['N', 'trials', 'p50', 'p99', 'max', 'memberlist DERIVED (gossip spread)'],
      r.sim.map((x) => [x.n.toLocaleString('en-US'), String(x.join.trials), s(x.join.p50), s(x.join.p99), s(x.join.max), s(x.derived.joinMs)]),
    ),
  );
  lines.push('');
  lines.push('steady-state egress: sent bytes per node per second (UDP packets + TCP push-pull/ping, payload only), over one push-pull');
  lines.push('period opening once every broadcast queue is empty + a fixed drain (+x s = after the cluster formed)');
  lines.push(
    table(
      ['N', 'window', 'mean', 'p50', 'max', 'packets mean', 'streams mean', 'memberlist DERIVED (est.)'],
      r.sim
        .filter((x) => x.bytes)
        .map((x) => {
          const b = x.bytes!;
          return [x.n.toLocaleString('en-US'), `${b.windowMs / 1000} s from +${(b.startMs / 1000).toFixed(1)} s`, bps(b.meanBps), bps(b.p50Bps), bps(b.maxBps), bps(b.packetMeanBps), bps(b.streamMeanBps), bps(x.derived.bytesPerSecond)];
        }),
    ),
  );
  for (const x of r.sim) if (x.note) lines.push(`note N=${x.n.toLocaleString('en-US')}: ${x.note}`);
  lines.push('');
  lines.push('false deaths (no node ever dies, so every dead verdict is false):');
  lines.push(
    table(
      ['stress', 'N', 'simulated', 'node-hours', 'false deaths', 'nodes falsely dead', 'suspicions', 'all alive at end', 'seed'],
      r.stress.map((st) => [
        st.mode === 'loss' ? '10% uniform packet loss' : `${st.paused.length} nodes frozen 1.5 s / 5 s`,
        String(st.n),
        `${st.durationMs / 60_000} min`,
        st.nodeHours.toFixed(1),
        String(st.falseDeaths),
        String(st.falselyDeadNodes),
        String(st.suspicions),
        st.finalAllAlive ? 'yes' : 'NO',
        String(st.seed),
      ]),
    ),
  );
  lines.push('loss applies to UDP packets only: the harness never loses stream (TCP) requests, so the TCP fallback ping of a probe always');
  lines.push('gets through and loss alone rarely leads to a suspicion. memberlist DERIVED: no formula gives a false-death rate; Lifeguard');
  lines.push('(arXiv 1707.00788) reports > 50× fewer false positives than SWIM.');
  return lines.join('\n');
}

function realBlock(r: Results): string {
  const lines: string[] = [];
  lines.push('real processes on 127.0.0.1: kill -9 one node -> every survivor shows it dead');
  lines.push('Heck: bin/heck-server --profile lan, joined with CLUSTER MEET, CLUSTER NODES polled every 50 ms for `fail`;');
  lines.push('memberlist: the anchor (DefaultLANConfig) via its `detect` script, once per trial (its own 50 ms polling of NotifyLeave).');
  if (r.memberlistBuild && !r.memberlistBuild.ok) lines.push(`memberlist anchor NOT measured: ${r.memberlistBuild.reason}`);
  lines.push(
    table(
      ['N', 'Heck trials', 'Heck p50', 'Heck max', 'Heck p50 (log ts)', 'Heck first suspect p50', 'Heck CPU/node idle', 'memberlist real p50', 'memberlist max', 'ml/heck p50', 'memberlist DERIVED best'],
      r.real.map((x) => {
        const ml = x.memberlist;
        return [
          String(x.n),
          `${x.heck.detect.trials}${x.heck.failures.length ? ` (+${x.heck.failures.length} failed starts, retried)` : ''}`,
          s(x.heck.detect.p50),
          s(x.heck.detect.max),
          s(x.heck.detectFromLogs.p50),
          s(x.heck.firstSuspectFromLogs.p50),
          `${x.heck.cpuPercentPerNode.toFixed(2)}% core`,
          ml?.ok ? `${s(ml.p50Ms)} (${ml.trials} trials)` : 'not measured',
          ml?.ok ? s(ml.maxMs) : '—',
          ml?.ok ? ratio(x.heck.detect.p50, ml.p50Ms) : '—',
          s(x.derived.detectBestMs),
        ];
      }),
    ),
  );
  return lines.join('\n');
}

export function render(r: Results): string {
  const wall = Object.entries(r.wallSeconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ');
  return [
    hostBlock(r.host),
    `mode: ${r.mode}; percentiles nearest-rank (p99 of <100 trials = the slowest trial); times in seconds`,
    '',
    derivedBlock(r.derived),
    '',
    simBlock(r),
    '',
    realBlock(r),
    '',
    'targets:',
    ...r.targets.map((t) => `  ${t.verdict}  ${t.name} ${t.limit}: ${t.value}`),
    '',
    r.observations.length ? ['observations:', ...r.observations.map((o) => `  - ${o}`)].join('\n') : 'observations: none',
    '',
    `wall time: ${wall}`,
  ].join('\n');
}
