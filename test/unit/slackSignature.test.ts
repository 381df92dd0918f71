import { slackSignature, verifySlackRequest } from '../../api/slackSignature';

// The worked example in Slack's "Verifying requests from Slack" documentation.
const DOC = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: '1531420618',
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};

test("Slack's documented example signs and verifies", () => {
  expect(slackSignature(DOC.secret, DOC.timestamp, DOC.body)).toBe(DOC.signature);
  expect(verifySlackRequest({ ...DOC, rawBody: DOC.body, nowSeconds: 1531420618 + 60 })).toBeUndefined();
});

test.each([
  ['a changed body', { rawBody: `${DOC.body}&x=1` }, /does not match/],
  ['a truncated signature', { signature: DOC.signature.slice(0, -1) }, /does not match/],
  ['a replay six minutes later', { nowSeconds: 1531420618 + 360 }, /more than five minutes/],
  ['a timestamp from the future', { nowSeconds: 1531420618 - 360 }, /more than five minutes/],
  ['no signature', { signature: undefined }, /missing/],
  ['a malformed timestamp', { timestamp: '15314x' }, /malformed/],
])('%s is refused', (_name, change, reason) => {
  expect(verifySlackRequest({ ...DOC, rawBody: DOC.body, nowSeconds: 1531420618, ...change })).toMatch(reason);
});
