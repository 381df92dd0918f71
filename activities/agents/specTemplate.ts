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
