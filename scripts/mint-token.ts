/**
 * Mints a room token (HS256 JWT) from a checkout, the same as `slabcast token` (src/cli/token-command.ts):
 *
 *   node --import tsx scripts/mint-token.ts --secret s3cret --sub alice [--room r1] [--ttl 3600]
 */
import { tokenCommand } from '../src/cli/token-command.js';

const result = await tokenCommand(process.argv.slice(2), process.env);
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
process.exitCode = result.code;
