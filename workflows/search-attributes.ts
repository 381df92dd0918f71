import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes that make runs findable in the Temporal UI and through `GET /runs`. */
export const SlipwayPhase = defineSearchAttributeKey('SlipwayPhase', SearchAttributeType.KEYWORD);
export const SlipwayStatus = defineSearchAttributeKey('SlipwayStatus', SearchAttributeType.KEYWORD);
export const SlipwayFeature = defineSearchAttributeKey('SlipwayFeature', SearchAttributeType.TEXT);
export const SlipwayServices = defineSearchAttributeKey('SlipwayServices', SearchAttributeType.KEYWORD_LIST);

export const SEARCH_ATTRIBUTES = [SlipwayPhase, SlipwayStatus, SlipwayFeature, SlipwayServices] as const;

/** Names as `temporal server start-dev --search-attribute NAME=Type` spells them. */
export const SEARCH_ATTRIBUTE_FLAGS: Record<string, string> = {
  SlipwayPhase: 'Keyword',
  SlipwayStatus: 'Keyword',
  SlipwayFeature: 'Text',
  SlipwayServices: 'KeywordList',
};
