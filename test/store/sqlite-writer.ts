// Child process of sqlite.test.ts: opens the store on a SQLite file, claims one shared jti, writes N calls.
// Prints {"ids": [...], "jti": "accepted" | "replay"}.
import { Store } from '../../src/store/index.js';
import { DEFAULT_RETENTION } from '../../src/store/config.js';
import { assertion, audit } from './support.js';

const [file, name, jti, count] = process.argv.slice(2);
if (file === undefined || name === undefined || jti === undefined || count === undefined)
  throw new Error('usage: file name jti count');
const store = await Store.open({
  engine: 'sqlite',
  file,
  retention: DEFAULT_RETENTION,
  synchronous: 'FULL',
  busyTimeoutMs: 10_000,
});
const claim = await store.claimJti({ iss: 'https://ehr.example', jti, expiresAt: new Date(Date.now() + 60_000) });
const ids: string[] = [];
for (let i = 0; i < Number(count); i++) {
  const a = assertion({ hookInstance: `${name}-${i}` });
  const result = await store.recordCall({ assertions: [a], audit: audit() });
  if (result.status !== 'committed') throw new Error(`call ${i}: ${result.status}`);
  ids.push(a.id);
}
await store.close();
process.stdout.write(JSON.stringify({ ids, jti: claim }));
