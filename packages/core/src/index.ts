import 'reflect-metadata';
export * from './rng.js';
