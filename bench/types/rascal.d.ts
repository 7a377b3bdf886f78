// rascal ships no typings and @types/rascal describes a far older major; bench/systems/rascal.ts declares
// the few calls it makes.
declare module 'rascal' {
  const rascal: unknown;
  export default rascal;
}
