// bert-edu book: MathJax 2 settings (read before MathJax.js). Maths is written $...$ and $$...$$ in the
// notebooks, as in JupyterLab. No web fonts from elsewhere, no menu, no font warning box.
window.MathJax = {
  tex2jax: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    skipTags: ["script", "noscript", "style", "textarea", "pre", "code"],
  },
  "HTML-CSS": {
    availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
    // MathJax probes web fonts with a font at about:blank, which a page opened from disk (file://) may not
    // load (a console error); a local() font that does not exist fetches nothing.
    styles: { "@font-face": { "font-family": "MathJax_Blank", src: "local('bert-edu-no-such-font')" } },
  },
  showMathMenu: false,
  messageStyle: "none",
  menuSettings: { zoom: "None" },
  MathMenu: { showRenderer: false },
  skipStartupTypeset: false,
};
