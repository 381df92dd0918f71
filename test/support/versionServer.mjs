// A tiny HTTP service for the local world's tests: it tells its version (baked into its image),
// its pid, and health; an image whose version starts with "crash" exits at once with code 3.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const version = readFileSync('version.txt', 'utf8').trim();
if (version.startsWith('crash')) {
  console.error(`version ${version}: crashing on purpose`);
  process.exit(3);
}
let requests = 0;
const server = createServer((req, res) => {
  requests += 1;
  if (req.url === '/version') res.end(version);
  else if (req.url === '/pid') res.end(String(process.pid));
  else if (req.url === '/env') res.end(JSON.stringify(process.env));
  else if (req.url === '/healthz') res.end('ok');
  else if (req.url === '/metrics') res.end(`# TYPE fixture_requests_total counter\nfixture_requests_total ${requests}\n`);
  else {
    res.statusCode = 404;
    res.end('not found');
  }
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`version ${version} listening on ${process.env.PORT}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
