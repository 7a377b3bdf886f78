/**
 * The demo's resize worker (`npm run demo`; docs/cookbook.md builds a simpler one step by step): makes a thumbnail of an image.
 *
 * The "image" is generated from its id (a deterministic gradient), so that the example runs anywhere; the
 * rest is what a production worker does: validate the payload (a bad one is dead-lettered with the reason,
 * never retried), do the work idempotently (a redelivered message finds the thumbnail already written),
 * write atomically (a crash never leaves half a file), clean up in `shutdown()`, and ack at the end.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { PermanentError, WorkerTask, type MessageAdapter, type ShutdownReason } from 'rabbit-worker';

export const ResizeRequest = z.object({
  imageId: z.string().regex(/^[\w-]{1,64}$/, 'letters, digits, _ and - only'),
  width: z.number().int().min(1).max(2048),
  height: z.number().int().min(1).max(2048),
});
export type ResizeRequest = z.infer<typeof ResizeRequest>;

/** Where thumbnails go. */
export const outputDir = (): string => process.env.OUTPUT_DIR ?? join(tmpdir(), 'rabbit-worker-demo', 'thumbnails');
export const thumbnailPath = (r: ResizeRequest): string => join(outputDir(), `${r.imageId}-${r.width}x${r.height}.ppm`);

const SOURCE = 1024; // the source image is SOURCE × SOURCE pixels

/** The source image, RGB: a gradient seeded by the id. */
function sourceImage(imageId: string): Uint8Array {
  let seed = 0;
  for (const ch of imageId) seed = (seed * 31 + ch.charCodeAt(0)) & 0xff;
  const pixels = new Uint8Array(SOURCE * SOURCE * 3);
  for (let y = 0; y < SOURCE; y++) {
    for (let x = 0; x < SOURCE; x++) {
      const i = (y * SOURCE + x) * 3;
      pixels[i] = (x + seed) & 0xff;
      pixels[i + 1] = (y + seed) & 0xff;
      pixels[i + 2] = (x ^ y) & 0xff;
    }
  }
  return pixels;
}

/** Box-filter downscale: each target pixel is the mean of the source pixels it covers. */
export function resize(source: Uint8Array, size: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let ty = 0; ty < height; ty++) {
    const y0 = Math.floor((ty * size) / height);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * size) / height));
    for (let tx = 0; tx < width; tx++) {
      const x0 = Math.floor((tx * size) / width);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * size) / width));
      let r = 0, g = 0, b = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * size + x) * 3;
          r += source[i] as number;
          g += source[i + 1] as number;
          b += source[i + 2] as number;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (ty * width + tx) * 3;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
    }
  }
  return out;
}

export default class ResizeImage extends WorkerTask {
  // as the specification says: a property, read when the worker starts
  spareMemoryMultiplier = 2;

  initialize(): void {
    super.initialize();
    this.setQueue('resize-image');
    this.prefetch = 4;
    this.ttl = 3600;
    this.maxMessages = 10_000;
    this.memoryLimitMb = 256;
    this.maxAttempts = 5;
    this.stopTimeout = 30;
    this.logger.setMainLogger('resize-image');
  }

  async callback(message: MessageAdapter<ResizeRequest>): Promise<void> {
    const parsed = ResizeRequest.safeParse(message.json()); // invalid JSON: dead-lettered by json()
    if (!parsed.success) throw new PermanentError(`invalid resize request: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const request = parsed.data;
    const target = thumbnailPath(request);
    if (existsSync(target)) {
      // at-least-once delivery: a duplicate finds the work done
      this.logger.info('thumbnail already there; duplicate delivery acked', { imageId: request.imageId, messageId: message.messageId });
      message.ack();
      return;
    }
    const started = performance.now();
    const pixels = resize(sourceImage(request.imageId), SOURCE, request.width, request.height);
    await mkdir(outputDir(), { recursive: true });
    const partial = `${target}.${process.pid}.partial`;
    await writeFile(partial, Buffer.concat([Buffer.from(`P6\n${request.width} ${request.height}\n255\n`), pixels]));
    await rename(partial, target);
    this.logger.info('thumbnail written', { imageId: request.imageId, size: `${request.width}x${request.height}`, ms: Math.round(performance.now() - started), attempt: message.attempt });
    message.ack();
  }

  /** Interrupted (out of memory, stop timeout…): remove this process's partial file, then nack as the default does. */
  override async shutdown(message: MessageAdapter, reason: ShutdownReason, error?: unknown): Promise<void> {
    const parsed = ResizeRequest.safeParse(JSON.parse(message.body.toString() || 'null'));
    if (parsed.success) await rm(`${thumbnailPath(parsed.data)}.${process.pid}.partial`, { force: true });
    await super.shutdown(message, reason, error);
  }
}
