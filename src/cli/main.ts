/**
 * The `smmuv3-tlbi` command line: a thin shell over the environment-free core. Each subcommand lives in
 * its own module and registers itself here.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, reportError } from './common.js';
import { registerAudit } from './audit.js';
import { registerDecode } from './decode.js';
import { registerEncode } from './encode.js';
import { registerPlan } from './plan.js';
import { registerPgtable } from './pgtable.js';
import { registerServe } from './serve.js';
import { registerSimulate } from './simulate.js';

function packageVersion(): string {
  try {
    const url = new URL('../../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command('smmuv3-tlbi')
    .description(
      'Arm SMMUv3 invalidation toolkit: decode/encode command-queue entries, plan invalidations, model the SMMU.\n' +
        'Exit status: 0 ok, 1 check failed or illegal entry, 2 usage error, 3 internal error.',
    )
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) })
    .showHelpAfterError('(add --help for usage)');
  registerDecode(program);
  registerAudit(program);
  registerEncode(program);
  registerPlan(program);
  registerPgtable(program);
  registerServe(program);
  registerSimulate(program);
  // Subcommands inherit exitOverride so that parse errors map to exit 2.
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // stdout errors (a closed pipe, a full disk) are handled by the shared writer (output.ts).
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      process.exitCode = benign.includes(e.code) ? EXIT_OK : EXIT_USAGE;
      return;
    }
    process.exitCode = reportError(e);
  }
}
