// Starts `sluice sim` on fixed loopback ports, runs the official-client
// agreement suite (node:test) against it, stops it, and exits with the
// suite's status. SLUICE_BIN names a built sluice binary; without it the
// simulators are started with `go run ./cmd/sluice` from the repository.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { PORTS } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const addrs = Object.entries(PORTS).flatMap(([p, port]) => ['--addr', `${p}=127.0.0.1:${port}`]);
const args = ['sim', '--unlimited', '--seed', '11', ...addrs];
const [cmd, cmdArgs] = process.env.SLUICE_BIN
  ? [process.env.SLUICE_BIN, args]
  : ['go', ['run', './cmd/sluice', ...args]];

const sim = spawn(cmd, cmdArgs, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
let out = '';
const ready = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`sluice sim not ready after 120 s; output:\n${out}`)), 120_000);
  sim.stdout.on('data', (b) => {
    out += b;
    if (out.includes('Press Ctrl-C')) { clearTimeout(timer); resolve(); }
  });
  sim.on('exit', (code) => { clearTimeout(timer); reject(new Error(`sluice sim exited with ${code}:\n${out}`)); });
});

let status = 1;
try {
  await ready;
  process.stdout.write(out);
  const files = process.argv.slice(2);
  const test = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...(files.length ? files : ['test/'])],
    { cwd: here, stdio: 'inherit' });
  status = await new Promise((resolve) => test.on('exit', (code) => resolve(code ?? 1)));
} catch (err) {
  console.error(err.message);
} finally {
  sim.removeAllListeners('exit');
  try { process.kill(-sim.pid, 'SIGTERM'); } catch { /* already gone */ }
}
process.exit(status);
