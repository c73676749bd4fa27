import assert from "node:assert/strict";
import { test } from "node:test";
import { setup } from "./harness.mjs";

test(
  "a private room's messages are unreadable with a wrong passphrase and readable with the right one",
  { timeout: 150_000 },
  async (t) => {
    const env = await setup(t, "private-room");
    const ada = await env.join("Ada");
    const bo = await env.join("Bo");
    const cy = await env.join("Cy");
    await ada.joinRoom("vault", "open sesame");
    await bo.joinRoom("vault", "not the passphrase");
    await cy.joinRoom("vault", "open sesame");
    await ada.waitForMembers(["Ada", "Bo", "Cy"]);

    // The key fingerprints tell who holds the same key.
    const fingerprint = (p) => p.page.locator("#room-info").innerText();
    assert.match(await fingerprint(ada), /^private · key [0-9a-f]{16}$/);
    assert.equal(await fingerprint(cy), await fingerprint(ada));
    assert.notEqual(await fingerprint(bo), await fingerprint(ada));

    const secret = "the treasure is under the old oak";
    await ada.say(secret);
    await cy.waitForBubble(secret);
    const locked = bo.page.locator("ol.log:not([hidden]) li.msg.locked");
    await locked.waitFor();
    assert.equal(
      (await locked.locator(".text").innerText()).trim(),
      "encrypted message you cannot read",
    );
    assert.equal(await locked.locator(".text svg.icon-lock").count(), 1);
    assert.equal(await locked.locator(".author").innerText(), "Ada");
    assert.ok(!(await bo.page.content()).includes("treasure"), "Bo's page shows the plaintext");
    // Bo's client refused it: Ada learns that one reader could not take it.
    await ada.waitForBubble(secret, "partial");

    // The other way round: nobody else can read what Bo seals with his key.
    await bo.say("can anyone read me?");
    await bo.waitForBubble("can anyone read me?", "failed");
    for (const p of [ada, cy]) {
      await p.page.waitForFunction(
        () => document.querySelectorAll("ol.log:not([hidden]) li.msg.locked").length === 1,
      );
      assert.ok(!(await p.page.content()).includes("can anyone read"));
    }

    // Bo corrects his passphrase and retries: sealed again with the right key, everyone reads it.
    await bo.joinRoom("vault", "open sesame");
    assert.equal(await fingerprint(bo), await fingerprint(ada));
    await bo.bubble("can anyone read me?").locator("button.retry").click();
    await bo.waitForBubble("can anyone read me?", "delivered");
    await ada.waitForBubble("can anyone read me?");
    await cy.waitForBubble("can anyone read me?");

    // Rooms without a passphrase stay readable by all three.
    await bo.switchTo("lobby");
    await ada.switchTo("lobby");
    await cy.switchTo("lobby");
    await bo.say("the lobby is open to all");
    await ada.waitForBubble("the lobby is open to all");
    await cy.waitForBubble("the lobby is open to all");
    await bo.waitForBubble("the lobby is open to all", "delivered");
    env.assertNoConsoleErrors();
  },
);
