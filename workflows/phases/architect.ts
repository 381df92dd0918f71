import { ApplicationFailure } from '@temporalio/workflow';
import type { PlanResult } from '../../activities';
import type { RunSettings, ServiceSettings } from '../../config/settings';
import { agents, git } from '../activities';
import type { Run } from '../run';

/** 2. Architect: plan.md and data-model.md, and the affected services in rollout order. */
export async function architect(run: Run): Promise<PlanResult> {
  run.enter('architect');
  const { settings, input } = run;
  const allowed = input.services.length > 0 ? input.services : settings.services.map((s) => s.name);
  let plan: PlanResult;
  if (settings.llm !== undefined) {
    plan = await agents.writePlan({ ...run.inWorkspace, feature: run.feature, services: allowed, llm: settings.llm, tokensUsed: run.tokensUsed });
    run.recordUsage('architect', plan.usage);
  } else {
    const { instructions } = await git.scaffoldPlan({ ...run.inWorkspace, feature: run.feature, services: allowed });
    plan = await run.personStep({ name: 'plan', rule: settings.gates.plan }, instructions, async () => {
      const checked = await git.checkPlan({ ...run.inWorkspace, services: allowed });
      return { ok: checked.ok, problems: checked.problems, ...(checked.plan ? { result: checked.plan } : {}) };
    });
  }
  run.artifact('architect', 'plan', plan.planPath);
  run.artifact('architect', 'data-model', plan.dataModelPath);
  run.services = plannedServices(settings, plan.services, input.services);
  run.state.services = run.services.map((s) => s.name);
  run.state.integrations = Object.fromEntries(run.state.services.map((name) => [name, [...(plan.integrations[name] ?? [])]]));
  run.event('architect', 'services planned', run.state.services.join(', '));
  run.publish();
  return plan;
}

/** The affected services in the plan's order, limited to configured ones (and to the requested ones, if any). */
export function plannedServices(settings: Pick<RunSettings, 'services'>, fromPlan: string[], requested: string[]): ServiceSettings[] {
  const byName = new Map(settings.services.map((s) => [s.name, s]));
  const order = fromPlan.length > 0 ? fromPlan : requested.length > 0 ? requested : settings.services.map((s) => s.name);
  const chosen: ServiceSettings[] = [];
  for (const name of order) {
    const service = byName.get(name);
    if (service === undefined) throw ApplicationFailure.nonRetryable(`the plan names service "${name}", which is not in the config`, 'UnknownService');
    if ((requested.length === 0 || requested.includes(name)) && !chosen.includes(service)) chosen.push(service);
  }
  if (chosen.length === 0) throw ApplicationFailure.nonRetryable('the plan affects none of the requested services', 'NoServices');
  return chosen;
}
