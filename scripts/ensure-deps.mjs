// Installs node_modules from the committed lock file when they are missing or stale.
// Plain Node with no dependencies: it runs before anything is installed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.slipway-lock-hash');
const hash = createHash('sha256').update(readFileSync(lock)).digest('hex');

if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) process.exit(0);
console.log('slipway: installing npm dependencies from package-lock.json ...');
// `npm install` (not `npm ci`): it installs the locked tree as well, but does not refuse a lock
// that lacks other platforms' optional binaries, which registries without them leave out.
execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
writeFileSync(stamp, hash);
