/**
 * npm run token -- <url>
 * Prints a development client JWT (ES384, the committed development key in fixtures/keys, NOT FOR PRODUCTION)
 * whose `aud` is <url>, the exact URL you will call, valid for 300 s, with a fresh jti. Only the token goes to
 * stdout, so it can be captured: curl -H "Authorization: Bearer $(npm run -s token -- <url>)" <url>
 */
import { parseHttpUrl, run, usage } from './cli.js';
import { devToken } from './dev-key.js';

const USAGE = 'npm run token -- <url>   (the exact URL to call, e.g. http://localhost:3000/cds-services)';

await run('token', async () => {
  const args = process.argv.slice(2);
  const [url] = args;
  if (args.length !== 1 || url === undefined || url.startsWith('-')) throw usage(USAGE);
  parseHttpUrl(url, 'url');
  // The audience is the URL exactly as given: the service compares it with the URL called.
  process.stdout.write(`${await devToken(url)}\n`);
  return 0;
});
