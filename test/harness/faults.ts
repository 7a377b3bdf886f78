import { cliOrThrow, evalOn, runCli } from './cli.js';
import { HarnessError, HarnessErrorCode } from './errors.js';
import { runningPid, type BrokerNode } from './node.js';
import { nodeNameOf, signal, waitGone } from './processes.js';

/*
 * Faults on one node of our own. Each returns once the fault is in place (the application stopped, the
 * VM gone, the alarm raised), so that a test's next step observes it rather than racing it.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `rabbitmqctl stop_app`: the broker application stops (every client connection on the node is closed,
 * quorum queue members on it go offline) while the VM keeps running. Throws `HARNESS_CLI_FAILED`.
 */
export async function stopApp(node: BrokerNode): Promise<void> {
  await cliOrThrow('rabbitmqctl', node.name, ['stop_app'], 60_000);
}

/** `rabbitmqctl start_app`: the broker application again; returns once it runs. Throws `HARNESS_CLI_FAILED`. */
export async function startApp(node: BrokerNode): Promise<void> {
  await cliOrThrow('rabbitmqctl', node.name, ['start_app'], 120_000);
}

/**
 * SIGKILL of the node's beam.smp, as a power cut or the OOM killer would; returns the pid it killed once
 * that process is gone. The pid is the one from the node's pid file, checked to still carry the node's
 * name; failing that, the VM is asked (`os:getpid()`) and the answer checked the same way, so neither a
 * reused pid nor a namesake elsewhere is ever hit. `restart(node)` brings it back.
 */
export async function killVm(node: BrokerNode): Promise<number> {
  let pid = runningPid(node);
  if (pid === undefined) {
    const answer = await runCli('rabbitmqctl', node.name, ['eval', 'os:getpid().'], 15_000);
    const asked = answer.ok ? Number(answer.output.replace(/"/g, '').trim()) : NaN;
    if (Number.isInteger(asked) && nodeNameOf(asked) === node.name) pid = asked;
  }
  if (pid === undefined) throw new HarnessError(HarnessErrorCode.NOT_FOUND, `killVm: no running VM of ${node.name} found`);
  signal(pid, 'SIGKILL');
  if (!(await waitGone(pid, 10_000))) throw new HarnessError(HarnessErrorCode.STATE_TIMEOUT, `killVm: pid ${pid} of ${node.name} survived SIGKILL for 10 s`);
  node.pid = undefined;
  return pid;
}

/** The watermark each node had before setMemoryAlarm(node, true), to put back exactly. */
const savedWatermarks = new WeakMap<BrokerNode, string[]>();

/**
 * Raises (`on`) or clears the node's memory alarm through its high watermark: `set_vm_memory_high_watermark
 * 0.000001` (any VM is above that), then back to the value it had (0.4 unless the node's config said
 * otherwise). Returns once `rabbit_alarm:get_alarms()` on the node agrees (bounded, 15 s). While it is
 * raised the node blocks every publishing connection (`connection.blocked`) — cluster-wide, as memory
 * alarms are.
 */
export async function setMemoryAlarm(node: BrokerNode, on: boolean): Promise<void> {
  if (on) {
    if (!savedWatermarks.has(node)) savedWatermarks.set(node, watermarkArgs(await evalOn(node.name, 'vm_memory_monitor:get_vm_memory_high_watermark().')));
    await cliOrThrow('rabbitmqctl', node.name, ['set_vm_memory_high_watermark', '0.000001']);
  } else {
    await cliOrThrow('rabbitmqctl', node.name, ['set_vm_memory_high_watermark', ...(savedWatermarks.get(node) ?? ['0.4'])]);
    savedWatermarks.delete(node);
  }
  const deadline = Date.now() + 15_000;
  for (;;) {
    if ((await memoryAlarmRaised(node)) === on) return;
    if (Date.now() > deadline) throw new HarnessError(HarnessErrorCode.STATE_TIMEOUT, `the memory alarm of ${node.name} is still ${on ? 'clear' : 'raised'} 15 s after setting the watermark`);
    await sleep(250);
  }
}

/** True while the node's own memory alarm is raised (`rabbit_alarm:get_alarms()`, not a status text). */
export async function memoryAlarmRaised(node: BrokerNode): Promise<boolean> {
  const answer = await evalOn(node.name, "lists:keymember({resource_limit, memory, node()}, 1, rabbit_alarm:get_alarms()).");
  return answer.trim() === 'true';
}

/** `0.4` → ['0.4']; `{absolute,1073741824}` → ['absolute', '1073741824']: the CLI's two forms. */
function watermarkArgs(printed: string): string[] {
  const text = printed.trim();
  const absolute = /^\{absolute,\s*(\d+)\}$/.exec(text);
  if (absolute !== null) return ['absolute', absolute[1] as string];
  if (/^\d+(\.\d+)?(e-?\d+)?$/.test(text)) return [text];
  throw new HarnessError(HarnessErrorCode.CLI_FAILED, `unexpected vm_memory_high_watermark of the node: ${text}`);
}
