/** A gate's `approvers` with each group name replaced by its members: distinct approver ids, in order. */
export function expandApprovers(names: readonly string[], groups: Readonly<Record<string, readonly string[]>>): string[] {
  return [...new Set(names.flatMap((name) => groups[name] ?? [name]))];
}
