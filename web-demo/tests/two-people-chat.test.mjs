import assert from "node:assert/strict";
import { test } from "node:test";
import { setup } from "./harness.mjs";

test(
  "two people chat both ways, see their messages delivered, and open a new room",
  { timeout: 150_000 },
  async (t) => {
    const env = await setup(t, "two-people-chat");
    const ada = await env.join("Ada");
    const bo = await env.join("Bo");
    await ada.waitForMembers(["Ada", "Bo"]);

    await ada.say("hi Bo, can you read this?");
    await bo.waitForBubble("hi Bo, can you read this?");
    const sent = await ada.waitForBubble("hi Bo, can you read this?", "delivered");
    assert.equal(await sent.locator(".ticks").innerText(), "✓✓");
    assert.equal(await bo.bubble("hi Bo").locator(".author").innerText(), "Ada");

    await bo.say("loud and clear, Ada");
    await ada.waitForBubble("loud and clear, Ada");
    await bo.waitForBubble("loud and clear, Ada", "delivered");

    // A new room: Ada creates it, Bo sees it announced in his list and joins with a click.
    await ada.joinRoom("team");
    await bo.page.click('#rooms button[data-room="team"]');
    await bo.page.waitForSelector('body[data-room="team"]');
    await ada.waitForMembers(["Ada", "Bo"]);
    await bo.say("first in #team");
    await ada.waitForBubble("first in #team");
    await bo.waitForBubble("first in #team", "delivered");
    await ada.say("second in #team");
    await bo.waitForBubble("second in #team");
    await ada.waitForBubble("second in #team", "delivered");

    // Bo goes back to the lobby and writes there: Ada, still in #team, gets an unread badge.
    await bo.switchTo("lobby");
    await bo.say("back in the lobby");
    await ada.page.waitForSelector('#rooms button[data-room="lobby"] .badge');
    assert.equal(await ada.bubble("back in the lobby").count(), 0, "shown in the wrong room");
    await ada.switchTo("lobby");
    await ada.waitForBubble("back in the lobby");
    assert.equal(await ada.page.locator('#rooms button[data-room="lobby"] .badge').count(), 0);

    // Each message shows once, though every sender also receives its own copy back.
    for (const p of [ada, bo]) {
      assert.equal(
        await p.page.locator("li.msg", { hasText: "hi Bo, can you read this?" }).count(),
        1,
      );
      assert.equal(await p.page.locator("li.msg", { hasText: "second in #team" }).count(), 1);
    }
    env.assertNoConsoleErrors();
  },
);
