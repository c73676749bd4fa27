import assert from "node:assert/strict";
import { test } from "node:test";
import { setup } from "./harness.mjs";

/** What Chromium logs for each connection attempt while the server is deliberately away. */
const EXPECTED_WHILE_DOWN =
  /^WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed: Error in connection establishment: net::(ERR_CONNECTION_REFUSED|ERR_INTERNET_DISCONNECTED)$/;

test(
  "after the server is killed and restarted the chat reconnects and sends what was typed meanwhile",
  { timeout: 150_000 },
  async (t) => {
    const env = await setup(t, "reconnect");
    const ada = await env.join("Ada");
    const bo = await env.join("Bo");
    await ada.waitForMembers(["Ada", "Bo"]);
    await ada.say("before the crash");
    await bo.waitForBubble("before the crash");

    await env.server.kill();
    for (const p of [ada, bo]) {
      await p.page.waitForSelector('#conn[data-state="reconnecting"]');
      assert.match(await p.page.locator("#conn-text").innerText(), /^reconnecting( in \d+ s|…)$/);
    }
    const countdown = await bo.page.locator("#conn-text").innerText();
    await bo.screenshot("desktop-bo-reconnecting.png");

    // Ada also loses her network until Bo is back: her queued messages must find him subscribed
    // (the server keeps nothing across a restart, so a message nobody is subscribed to is lost).
    await ada.context.setOffline(true);
    await ada.say("typed while the server was down");
    await ada.say("and a second one");
    for (const text of ["typed while the server was down", "and a second one"]) {
      await ada.waitForBubble(text, "pending");
    }
    await ada.page.waitForSelector('#conn[data-state="offline"]');
    await ada.screenshot("desktop-ada-offline-pending.png");

    await env.server.start(env.server.addr); // the same port: the pages' URL does not change
    await bo.waitConnected();
    await bo.page.waitForSelector("body[data-restored]");
    t.diagnostic(`Bo saw "${countdown}" and reconnected by himself`);
    await ada.context.setOffline(false); // the page's `online` event: the SDK reconnects at once
    await ada.waitConnected();

    for (const text of ["typed while the server was down", "and a second one"]) {
      await bo.waitForBubble(text);
      await ada.waitForBubble(text, "delivered");
    }
    const order = await bo.page.$$eval("ol.log:not([hidden]) li.msg .text", (els) =>
      els.map((e) => e.textContent),
    );
    assert.deepEqual(order, [
      "before the crash",
      "typed while the server was down",
      "and a second one",
    ]);

    await bo.say("welcome back");
    await ada.waitForBubble("welcome back");
    await bo.waitForBubble("welcome back", "delivered");
    await ada.waitForMembers(["Ada", "Bo"]);
    await bo.waitForMembers(["Ada", "Bo"]);
    env.assertNoConsoleErrors((e) => EXPECTED_WHILE_DOWN.test(e));
  },
);
