/** The sandbox every command from a run's branch runs in (see docs/security-model.md). */
export { runConfined, passThroughEnv } from './confined';
export { runSandboxed, bubblewrapBinary, NOBODY, type SandboxedCommand, type SandboxResult } from './run';
export { checkSandbox, requireSandbox, sandboxStatus, SandboxUnavailable, type SandboxStatus } from './status';
export { signalGroup } from './processGroup';
export { kindOf, listFolder, readWorktreeFile, updateWorktreeFile, walkWorktree, writeWorktreeFile, WorktreePathError } from './worktreeFs';
