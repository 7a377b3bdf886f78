import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../supervisor/config.js';
import { loadEffectiveTypes } from '../supervisor/effective-settings.js';
import { kubernetesManifests, renderKubernetes, resolveOptions } from '../supervisor/kubernetes.js';

interface KubernetesFlags {
  out?: string;
  image?: string;
  namespace?: string;
}

/**
 * `rabbit-worker kubernetes [config]`: a Deployment and a KEDA ScaledObject per worker type, and the
 * TriggerAuthentication they share. Loads every worker file, as `run` does, to read its effective settings.
 */
export function registerKubernetes(program: Command): void {
  program
    .command('kubernetes')
    .description('print (or write) a Deployment and a KEDA ScaledObject per worker type, and their TriggerAuthentication')
    .argument('[config]', 'config file or directory (default: the working directory)')
    .option('--out <dir>', 'write trigger-authentication.yaml and one <type>.yaml per type into this directory instead of printing')
    .option('--image <image>', 'container image of the app (default: kubernetes.image of the config file)')
    .option('--namespace <ns>', 'namespace of every object (default: kubernetes.namespace, else none: kubectl\'s current one)')
    .action(async (config: string | undefined, flags: KubernetesFlags) => {
      const loaded = await loadConfig(config);
      const cli = { image: flags.image, namespace: flags.namespace };
      resolveOptions(loaded, cli); // a missing image or a bad namespace fails before any worker file is imported
      const manifests = kubernetesManifests(loaded, await loadEffectiveTypes(loaded), cli);
      for (const warning of manifests.warnings) process.stderr.write(`rabbit-worker: warning: ${warning}\n`);
      const { text, files } = renderKubernetes(manifests, loaded);
      if (flags.out === undefined) {
        process.stdout.write(text);
        return;
      }
      mkdirSync(flags.out, { recursive: true });
      for (const file of files) writeFileSync(join(flags.out, file.name), file.text);
      process.stdout.write(`wrote ${files.map((f) => join(flags.out ?? '.', f.name)).join(', ')}\n`);
    });
}
