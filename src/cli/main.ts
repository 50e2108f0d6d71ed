/**
 * The `smmuv3-tlbi` command line: a thin shell over the environment-free core. Each subcommand lives in
 * its own module and registers itself (options, help, action); this file only knows their names.
 *
 * Start-up: a subcommand's module (and through it the core it needs: the model, the audit, the page
 * server…) is imported only when that subcommand runs or shows its help. The top-level help and the
 * version, which need every subcommand's line but none of its code, are drawn from `summaries.ts`
 * (test/cli-startup.test.ts checks it against the modules).
 */
import { Command, CommanderError, Help } from 'commander';
import { EXIT_OK, EXIT_USAGE } from './errors.js';
import { packageVersion } from './package-root.js';
import { SUMMARIES } from './summaries.js';
import { quietStderr, takeQuiet } from './colour.js';

type Register = (program: Command) => void;

/** Every subcommand, in the order of the top-level help, with the module that registers it. */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Register>]> = [
  ['decode', async () => (await import('./decode.js')).registerDecode],
  ['audit', async () => (await import('./audit.js')).registerAudit],
  ['capture', async () => (await import('./capture.js')).registerCapture],
  ['encode', async () => (await import('./encode.js')).registerEncode],
  ['plan', async () => (await import('./plan.js')).registerPlan],
  ['pgtable', async () => (await import('./pgtable.js')).registerPgtable],
  ['serve', async () => (await import('./serve.js')).registerServe],
  ['simulate', async () => (await import('./simulate.js')).registerSimulate],
  ['campaign', async () => (await import('./campaign.js')).registerCampaign],
];

/** The subcommand names, in order. */
export const COMMAND_NAMES: readonly string[] = COMMANDS.map(([name]) => name);

/** The program without subcommands: description, version, error handling. */
function rootProgram(): Command {
  return (
    new Command('smmuv3-tlbi')
      .description(
        'Arm SMMUv3 invalidation toolkit: decode/encode command-queue entries, plan invalidations, model the SMMU.\n' +
          'Exit status: 0 ok, 1 check failed or illegal entry, 2 usage error, 3 internal error.\n' +
          'On a terminal ILLEGAL entries, stale translations and findings are in colour (not when NO_COLOR is set or\n' +
          'stdout is not a terminal); -q/--quiet anywhere on the line leaves only errors on stderr.',
      )
      .version(packageVersion(), '-V, --version')
      .exitOverride()
      // A usage error is one line (README): no "(add --help for usage)" after it, and a value holding a
      // line break is shown escaped.
      .configureOutput({ outputError: (str, write) => write(str.trimEnd().replace(/\r?\n/g, '\\n') + '\n') })
  );
}

function finish(program: Command): Command {
  // Subcommands inherit exitOverride so that parse errors map to exit 2.
  for (const c of program.commands) c.exitOverride();
  return program;
}

/**
 * The program with its subcommands registered: all of them (the default), or only `only` (what `main`
 * does when the command line names one: its module alone is loaded).
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = rootProgram();
  const chosen = COMMANDS.filter(([name]) => only === undefined || name === only);
  const registers = await Promise.all(chosen.map(([, load]) => load()));
  for (const register of registers) register(program);
  return finish(program);
}

/**
 * The program for the top-level help, the version and unknown commands: every subcommand as a stub with
 * its help line from SUMMARIES (none of their modules is loaded; stubs never run).
 */
export function summaryProgram(): Command {
  const program = rootProgram();
  const terms = new Map(SUMMARIES.map((s) => [s.name, s.term]));
  program.configureHelp({
    subcommandTerm(this: Help, cmd: Command): string {
      return terms.get(cmd.name()) ?? Help.prototype.subcommandTerm.call(this, cmd);
    },
  });
  for (const s of SUMMARIES) program.command(s.name).description(s.description);
  return finish(program);
}

/** The subcommand the command line names (`help NAME` included), or undefined for the top level. */
export function subcommandOf(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  // The top level has only flags without values (-V, --version, -h, --help): the first word is the command.
  // A flag before it (`-h decode`) is the top level's.
  let k = args.findIndex((a) => !a.startsWith('-'));
  if (k !== 0) return undefined;
  if (args[k] === 'help') k++;
  const name = k >= 0 ? args[k] : undefined;
  return name !== undefined && COMMAND_NAMES.includes(name) ? name : undefined;
}

export async function main(argv: string[]): Promise<void> {
  // stdout errors (a closed pipe, a full disk) are handled by the shared writer (output.ts).
  try {
    if (takeQuiet(argv)) quietStderr();
    const name = subcommandOf(argv);
    const program = name === undefined ? summaryProgram() : await buildProgram(name);
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      const benign = ['commander.helpDisplayed', 'commander.version', 'commander.help'];
      process.exitCode = benign.includes(e.code) ? EXIT_OK : EXIT_USAGE;
      return;
    }
    // The error plumbing (and the input/output layers it knows) loads only when there is an error to report.
    const { reportError } = await import('./common.js');
    process.exitCode = reportError(e);
  }
}
