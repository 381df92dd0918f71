/**
 * What Slipway writes for a person when no LLM is configured, and how it reads back what they
 * committed: spec-kit's spec, plan and tasks layouts. Pure.
 */
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The spec scaffold written when no LLM is configured: spec-kit's spec layout with the
 * feature sentence filled in and every section a person must write marked
 * [NEEDS CLARIFICATION], so the spec gate shows exactly what is still open.
 */
export function specScaffold(input: { branch: string; feature: string; date: string; comments: string[] }): string {
  const review =
    input.comments.length > 0
      ? `\n## Review Comments\n\nComments from rejected rounds, oldest first; address each before approving:\n\n${input.comments.map((c, i) => `${i + 1}. ${c}`).join('\n')}\n`
      : '';
  return `# Feature Specification: ${input.feature}

**Feature Branch**: \`${input.branch}\`
**Created**: ${input.date}
**Status**: Draft (scaffold — no LLM configured; a person completes it on this branch)
**Input**: User description: "${input.feature}"

## User Scenarios & Testing *(mandatory)*

### User Story 1 - [NEEDS CLARIFICATION: primary user journey] (Priority: P1)

${input.feature}

**Why this priority**: [NEEDS CLARIFICATION: the value this story delivers first]

**Independent Test**: [NEEDS CLARIFICATION: how this story is verified on its own]

**Acceptance Scenarios**:

1. **Given** [initial state], **When** [action], **Then** [expected outcome]

### Edge Cases

- What happens when [boundary condition]?

## Requirements *(mandatory)*

### Functional Requirements

- **FR-001**: System MUST ${lowerFirst(input.feature)}.

## Success Criteria *(mandatory)*

### Measurable Outcomes

- **SC-001**: [Measurable outcome, e.g. "99% of notifications arrive within 2 seconds"]

## Assumptions

- The services listed in slipway.config.yaml are the ones this feature may change.
${review}`;
}

export function requirementsChecklist(input: { feature: string; specPath: string }): string {
  return `# Specification Quality Checklist: ${input.feature}

**Purpose**: Validate specification completeness and quality before proceeding to planning
**Feature**: [spec.md](../spec.md)

## Content Quality

- [ ] No implementation details (languages, frameworks, APIs)
- [ ] Focused on user value and business needs
- [ ] All mandatory sections completed

## Requirement Completeness

- [ ] No [NEEDS CLARIFICATION] markers remain
- [ ] Requirements are testable and unambiguous
- [ ] Success criteria are measurable and technology-agnostic
- [ ] Edge cases are identified
- [ ] Scope is clearly bounded

## Feature Readiness

- [ ] All functional requirements have clear acceptance criteria
- [ ] User scenarios cover primary flows
`;
}

/** The [NEEDS CLARIFICATION: …] markers of a spec, as shown at the spec gate. */
export function openClarifications(spec: string): string[] {
  return [...spec.matchAll(/\[NEEDS CLARIFICATION: ([^\]]+)\]/g)].map((m) => m[1] ?? '');
}

function lowerFirst(text: string): string {
  const trimmed = text.trim().replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}

/** The fenced block in plan.md that says which services the feature changes, in rollout order. */
export const SERVICES_BLOCK = /```ya?ml slipway-services\n([\s\S]*?)```/;

export function planScaffold(input: { branch: string; feature: string; date: string; services: string[] }): string {
  return `# Implementation Plan: ${input.feature}

**Branch**: \`${input.branch}\` | **Date**: ${input.date} | **Spec**: [spec.md](./spec.md)
**Status**: Draft (scaffold — no LLM configured; a person completes it on this branch)

## Summary

[NEEDS CLARIFICATION: the approach in two or three sentences]

## Affected services

Slipway reads the block below: the services this feature changes, **in rollout order**
(dependencies first), and how each is touched — any of \`grpc\`, \`events\`, \`schema\`, \`cache\`,
\`analytics\`. Services that exist: ${input.services.join(', ')}.

\`\`\`yaml slipway-services
# - name: ${input.services[0] ?? 'service'}
#   integrations: [grpc, schema]
\`\`\`

## Integration points

- gRPC: [new or changed RPCs, kept backward compatible]
- Events: [event names, payloads, producers and consumers]
- Database: [schema changes per service; see data-model.md]

## Decisions

- [Decision]: [rationale; alternatives considered]
`;
}

export function dataModelScaffold(input: { feature: string }): string {
  return `# Data Model: ${input.feature}

## Entities

- [Entity]: [fields, relations, state transitions]
`;
}

export function tasksScaffold(input: { branch: string; feature: string }): string {
  return `# Tasks: ${input.feature}

**Branch**: \`${input.branch}\`
**Input**: spec.md, plan.md, data-model.md

Format: \`- [ ] T001 [P] [US1] description with the exact file path\` — [P] when it can run in parallel
(different files, no dependency), [USn] for a user story's tasks. Slipway counts the task lines.

## Phase 1: Setup

## Phase 2: Foundational

## Phase 3: User Story 1 (P1)

## Dependencies
`;
}

export const planServiceSchema = z.object({
  name: z.string().min(1),
  integrations: z.array(z.enum(['grpc', 'events', 'schema', 'cache', 'analytics'])).prefault([]),
});

/** The services block of a plan: the services in rollout order, or the problems a person must fix. */
export function plannedServicesOf(plan: string, known: string[]): { services: z.infer<typeof planServiceSchema>[]; problems: string[] } {
  const block = SERVICES_BLOCK.exec(plan)?.[1];
  if (block === undefined) return { services: [], problems: ['plan.md has no ```yaml slipway-services block naming the affected services'] };
  let parsed: unknown;
  try {
    parsed = parse(block) ?? [];
  } catch (err) {
    return { services: [], problems: [`the slipway-services block is not valid YAML: ${(err as Error).message.split('\n')[0]}`] };
  }
  const result = z.array(planServiceSchema).safeParse(parsed);
  if (!result.success) return { services: [], problems: [`the slipway-services block is not a list of {name, integrations}: ${z.prettifyError(result.error).split('\n')[0]}`] };
  const problems: string[] = [];
  if (result.data.length === 0) problems.push('the slipway-services block names no service');
  const unknown = result.data.map((s) => s.name).filter((name) => !known.includes(name));
  if (unknown.length > 0) problems.push(`the plan names services that are not configured: ${unknown.join(', ')} (configured: ${known.join(', ')})`);
  return { services: result.data, problems };
}

/** Task lines in spec-kit's format. */
export function taskCountOf(tasks: string): number {
  return tasks.match(/^- \[[ xX]\] T\d{3,}\b/gm)?.length ?? 0;
}
