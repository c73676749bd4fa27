import assert from "node:assert/strict";
import { test } from "node:test";
import { setup, unique } from "./harness.mjs";

/** The forms a message could leak in: as written, as hex and as base64. */
function forms(text) {
  const bytes = Buffer.from(text, "utf8");
  return [text, bytes.toString("hex"), bytes.toString("base64").replace(/=+$/, "")];
}

test(
  "neither the server's log nor its metrics ever contain a message's plaintext",
  { timeout: 150_000 },
  async (t) => {
    // debug: the server's most talkative setting that is still about the server (every HTTP
    // request and connection); the more it logs, the more this test proves.
    const env = await setup(t, "no-plaintext-on-server", { log: "debug" });
    const ada = await env.join("Ada");
    const bo = await env.join("Bo");
    await ada.waitForMembers(["Ada", "Bo"]);

    const publicMarker = unique("plaintext-marker-lobby");
    await ada.say(`${publicMarker} said in the lobby`);
    await bo.waitForBubble(publicMarker);
    await ada.waitForBubble(publicMarker, "delivered");

    await ada.joinRoom("vault", "marker passphrase");
    await bo.joinRoom("vault", "marker passphrase");
    await ada.waitForMembers(["Ada", "Bo"]);
    const privateMarker = unique("plaintext-marker-vault");
    await bo.say(`${privateMarker} said in private`);
    await ada.waitForBubble(privateMarker);
    await bo.waitForBubble(privateMarker, "delivered");

    const response = await fetch(new URL("/metrics", env.server.url));
    assert.equal(response.status, 200);
    const metrics = await response.text();
    assert.match(
      metrics,
      /^fastport_messages_in_total [1-9]/m,
      "the metrics did not count the messages",
    );
    const log = env.server.log();
    assert.match(log, /listening on 127\.0\.0\.1:\d+/, "the server's output was not captured");
    assert.match(log, /DEBUG/, "nothing was logged at debug level");
    for (const marker of [publicMarker, privateMarker, "marker passphrase"]) {
      for (const form of forms(marker)) {
        assert.ok(!log.includes(form), `the server log contains ${form}`);
        assert.ok(!metrics.includes(form), `/metrics contains ${form}`);
      }
    }

    // The ciphertext switch shows what the server relayed instead of the text.
    await ada.page.check("#show-cipher");
    const cipher = ada.bubble(privateMarker).locator(".cipher");
    await cipher.waitFor({ state: "visible" });
    const shown = await cipher.innerText();
    if (shown.includes("does not expose")) {
      t.diagnostic("this fastport-wasm build has no Message.envelope: the switch says so");
    } else {
      const [, length] = /relayed ciphertext · (\d+) bytes/.exec(shown) ?? [];
      assert.ok(Number(length) > privateMarker.length, `envelope of ${length} bytes: ${shown}`);
      const hex = shown
        .split("\n")
        .at(-1)
        .replace(/[^0-9a-f]/g, "");
      assert.ok(hex.length >= 64, `no hex shown: ${shown}`);
      assert.ok(
        !Buffer.from(hex, "hex").toString("latin1").includes("plaintext"),
        "the envelope shows plaintext",
      );
    }
    env.assertNoConsoleErrors();
  },
);
