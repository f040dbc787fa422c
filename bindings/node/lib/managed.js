'use strict';

// The one base of the objects that own something in the native library: a Client (a client
// handle) and a ChatCompletionStream (a running call). Modelled on wasmtime-py's `_managed.py`
// and wasmtime-go's `ffi.go`: `close()` gives the handle back, once however often it is called,
// and `using` / `await using` call it. A FinalizationRegistry gives back what a program dropped
// without closing, as a backstop only: the garbage collector decides when that happens, if ever.

// Node 18.18+ and 20.4+ define both symbols (as these same registered ones) for `using`.
const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');
const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose');

// The held value names the handle and how to give it back, never the object itself (which the
// registry would then keep alive forever).
const registry = new FinalizationRegistry(({ release, handle }) => release(handle));

class ManagedHandle {
  /** What the library handed out; null before `_adopt()` and once given back or finished. */
  #handle = null;
  #release = null;

  /**
   * Takes ownership of `handle`; `release(handle)` gives it back to the library. `release` must
   * not refer to this object.
   */
  _adopt(handle, release) {
    this.#handle = handle;
    this.#release = release;
    registry.register(this, { release, handle }, this);
  }

  /** The handle; throws `_closedError()` once it was given back. */
  _handle() {
    if (this.#handle === null) throw this._closedError();
    return this.#handle;
  }

  /** Gives the handle back to the library, the first time only; returns it, or null after the first time. */
  _release() {
    const handle = this._forget();
    if (handle !== null) this.#release(handle);
    return handle;
  }

  /** Forgets the handle without giving it back, for one the library let go of by itself; returns it, or null. */
  _forget() {
    const handle = this.#handle;
    if (handle === null) return null;
    this.#handle = null;
    registry.unregister(this);
    return handle;
  }

  /** The error for a use after `close()`; subclasses say what was closed. */
  _closedError() {
    return new TypeError(`this ${this.constructor.name} is closed`);
  }

  /** Releases what the object holds; resolves once the library holds nothing more for it. Subclasses define it. */
  close() {
    throw new TypeError(`${this.constructor.name} does not define close()`);
  }

  /** `await using x = ...`: `await x.close()`. */
  [asyncDispose]() {
    return this.close();
  }

  /** `using x = ...`: `x.close()`, without waiting for what it ends to settle. */
  [dispose]() {
    this.close();
  }
}

module.exports = { ManagedHandle, asyncDispose, dispose };
