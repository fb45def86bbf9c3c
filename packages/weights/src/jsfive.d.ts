// jsfive ships no types; the part of its API @fermix/weights uses.
declare module 'jsfive' {
  export class Group {
    readonly name: string;
    readonly keys: string[];
    readonly attrs: Record<string, unknown>;
    get(path: string): Group | Dataset | null;
  }
  export class File extends Group {
    constructor(buffer: ArrayBuffer, filename: string);
  }
  export class Dataset {
    readonly name: string;
    readonly shape: number[];
    readonly dtype: string | unknown;
    readonly attrs: Record<string, unknown>;
    readonly value: ArrayLike<number | bigint>;
  }
}
