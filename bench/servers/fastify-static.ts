// fastify 5 + @fastify/static with their defaults. Usage: fastify-static.ts DIR PORT
import fastifyStatic from '@fastify/static';
import Fastify from 'fastify';
import { dirAndPort } from './lifecycle.js';

const { dir, port } = dirAndPort('fastify-static.ts');

const app = Fastify({ logger: false });
await app.register(fastifyStatic, { root: dir });
await app.listen({ host: '127.0.0.1', port });
console.log(`fastify-static: listening on http://127.0.0.1:${port}`);

const stop = (): void => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
