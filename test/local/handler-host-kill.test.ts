import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HandlerHost } from '../../local/handler-host';

const fixture = path.join(__dirname, '..', 'fixtures', 'retaining-handler.ts');

describe("a function's execution environment killed mid-invocation (HandlerHost.kill)", () => {
  it('fails the invocation under way with the reason, and the next one gets a fresh environment (a cold start)', async () => {
    const host = new HandlerHost('killed', fixture, {});
    try {
      // The fixture returns how many invocations its module has seen: its state lives in the environment.
      expect(await host.invoke<number>({ strings: 1 })).toBe(1);
      expect(await host.invoke<number>({ strings: 1 })).toBe(2);
      const busy = host.invoke<number>({ strings: 1, busyMs: 5_000 });
      await new Promise((r) => setTimeout(r, 200)); // the worker is in its busy step
      await host.kill('injected: out of memory');
      await expect(busy).rejects.toThrow(
        "the killed function's execution environment was killed (injected: out of memory): the invocation did not finish",
      );
      expect(host.kills).toBe(1);
      // A new environment: the module was imported again, its state starts over.
      expect(await host.invoke<number>({ strings: 1 })).toBe(1);
      // Invocations sent while the new environment loads wait for it.
      await host.kill('again');
      const both = await Promise.all([
        host.invoke<number>({ strings: 1 }),
        host.invoke<number>({ strings: 1 }),
      ]);
      expect(both.sort()).toEqual([1, 2]);
    } finally {
      await host.stop();
    }
    // A stopped host is not revived by a kill, and says it has exited.
    await host.kill('after the stop');
    await expect(host.invoke({ strings: 1 })).rejects.toThrow(/has exited \(the runtime is stopping\)/);
  }, 60_000);
});
