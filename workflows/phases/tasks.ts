import type { TasksResult } from '../../activities/agents';
import { agents, git } from '../activities';
import type { Run } from '../run';

/** 3. Tasks: a dependency-ordered tasks.md. */
export async function tasks(run: Run): Promise<void> {
  run.enter('tasks');
  const { settings } = run;
  let result: TasksResult;
  if (settings.llm !== undefined) {
    result = await agents.writeTasks({ ...run.inWorkspace, llm: settings.llm, tokensUsed: run.tokensUsed });
    run.recordUsage('tasks', result.usage);
  } else {
    const { instructions } = await git.scaffoldTasks({ ...run.inWorkspace, feature: run.feature });
    result = await run.personStep({ name: 'tasks', rule: settings.gates.tasks }, instructions, async () => {
      const checked = await git.checkTasks(run.inWorkspace);
      return { ok: checked.ok, problems: checked.problems, ...(checked.tasks ? { result: checked.tasks } : {}) };
    });
  }
  run.artifact('tasks', 'tasks', result.tasksPath);
  run.event('tasks', `${result.taskCount} tasks`);
}
