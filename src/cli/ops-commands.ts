import type { Command } from 'commander';
import { registerAuditCommand } from './commands/audit.js';
import { registerBackupCommand } from './commands/backup.js';
import { registerRemoteCacheCommands } from './commands/cache-remote.js';
import { registerCacheCommand } from './commands/cache.js';
import { registerHealthCommand } from './commands/health.js';
import { registerNotifyCommand } from './commands/notify.js';
import { registerServeCommand } from './commands/serve.js';
import type { CliIo } from './commands/run.js';

/**
 * Registers the operations commands: cache (local and remote), health, backup, audit, notify and
 * serve. A module of its own so that main.ts can load it lazily: a build never compiles them.
 */
export function registerOpsCommands(program: Command, io: CliIo & { readonly cwd: string }, setExit: (code: number) => void): void {
  registerCacheCommand(program, io, setExit);
  registerHealthCommand(program, io, setExit);
  registerBackupCommand(program, io, setExit);
  const cacheCommand = program.commands.find((c) => c.name() === 'cache');
  if (cacheCommand) registerRemoteCacheCommands(cacheCommand, io, setExit);
  registerAuditCommand(program, io, setExit);
  registerNotifyCommand(program, io, setExit);
  registerServeCommand(program, io, setExit);
}
