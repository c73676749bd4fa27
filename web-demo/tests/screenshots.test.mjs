import { test } from "node:test";
import { DESKTOP, PHONE, setup, SHOTS } from "./harness.mjs";

test(
  "screenshots of a desktop and a phone window, with no console errors",
  { timeout: 150_000 },
  async (t) => {
    const env = await setup(t, "screenshots");

    const welcome = await env.browser.newPage(PHONE);
    await welcome.goto(env.server.url);
    await welcome.waitForSelector("#join-name");
    await welcome.screenshot({ path: `${SHOTS}/phone-join.png` });
    await welcome.close();

    const ada = await env.join("Ada", DESKTOP);
    const bo = await env.join("Bo", PHONE);
    await ada.joinRoom("design");
    await bo.joinRoom("design");
    await ada.waitForMembers(["Ada", "Bo"]);
    const lines = [
      [ada, "Morning! The new sketches are up."],
      [bo, "Looking at them now on my phone."],
      [bo, "The second one reads best."],
      [ada, "Agreed. The server only ever sees ciphertext of all this, by the way."],
    ];
    for (const [who, text] of lines) {
      await who.say(text);
      await who.waitForBubble(text, "delivered");
      for (const p of [ada, bo]) await p.waitForBubble(text);
    }
    await ada.page.check("#show-cipher");
    await ada.screenshot("desktop-ada.png");
    await bo.screenshot("phone-bo.png");
    await bo.openMenu();
    await bo.page.waitForTimeout(300); // the drawer's slide-in transition
    await bo.screenshot("phone-bo-menu.png");
    await bo.closeMenu();

    // A private room where Bo typed the wrong passphrase.
    await ada.joinRoom("vault", "right passphrase");
    await bo.joinRoom("vault", "wrong passphrase");
    await ada.waitForMembers(["Ada", "Bo"]);
    await ada.say("Only people with the passphrase can read this.");
    await bo.page.locator("ol.log:not([hidden]) li.msg.locked").waitFor();
    await ada.waitForBubble("Only people with the passphrase", "failed"); // its only other reader refused it
    await ada.screenshot("desktop-ada-private.png");
    await bo.screenshot("phone-bo-locked.png");

    env.assertNoConsoleErrors();
    t.diagnostic(`screenshots in ${SHOTS}`);
  },
);
