// Applies the theme remembered by the toggle before the first paint (a module script would run after it
// and the page would flash). Without a remembered choice, CSS follows prefers-color-scheme.
try {
  const theme = window.localStorage.getItem('rabbit-worker.theme');
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
} catch {
  // storage can be disabled; the system preference then applies
}
