// Installs node_modules from the committed lock file when they are missing or stale.
// Plain Node with no dependencies: it runs before anything is installed.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const lock = join(root, 'package-lock.json');
const stamp = join(root, 'node_modules', '.slipway-lock-hash');
const hashOf = () => createHash('sha256').update(readFileSync(lock)).digest('hex');

if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hashOf()) process.exit(0);
console.log('slipway: installing npm dependencies from package-lock.json (npm ci) ...');
// `npm ci` installs exactly the lock and never rewrites it: the checkout stays clean.
execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
// Stamped after the install, with the lock as it is now, so the next start skips the install.
writeFileSync(stamp, hashOf());
