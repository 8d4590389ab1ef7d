"use strict";(self.rspackChunkllmops_nb=self.rspackChunkllmops_nb||[]).push([[700],{646(o,r,t){var e=t(601),n=t.n(e),a=t(314),l=(t.n(a))()(n());l.push([o.id,`/* llmops-nb: %%llm highlighting, status bar item, LLM calls sidebar */
.cm-llm-magic { color: var(--jp-mirror-editor-keyword-color, #008000); font-weight: bold; }
.cm-llm-model { color: var(--jp-mirror-editor-def-color, #00f); font-weight: 600; }
.cm-llm-name { color: var(--jp-mirror-editor-variable-2-color, #05a); font-weight: 600; }
.cm-llm-option { color: var(--jp-mirror-editor-attribute-color, #00c); }
.cm-llm-value { color: var(--jp-mirror-editor-string-color, #ba2121); }
/* The prompt body is prose: no Python colouring, no bracket or error marks. */
.cm-line.cm-llm-prose span {
  color: var(--jp-content-font-color1) !important;
  font-weight: inherit !important;
  font-style: inherit !important;
  text-decoration: none !important;
  background: none !important;
  outline: none !important;
}
.cm-line.cm-llm-prose { font-family: var(--jp-content-font-family); }
.cm-line .cm-llm-variable,
.cm-line.cm-llm-prose .cm-llm-variable,
.cm-line.cm-llm-prose .cm-llm-variable span {
  color: var(--jp-mirror-editor-variable-2-color, #05a) !important;
  background: var(--jp-layout-color2) !important;
  border-radius: 3px;
  font-weight: 600 !important;
}

.jp-llmops-status { cursor: pointer; padding: 0 6px; white-space: nowrap; }
.jp-llmops-status:hover { background: var(--jp-layout-color2); }

.jp-llmops-panel {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: auto;
  padding: 6px;
  min-width: 460px;
}
.jp-llmops-head { display: flex; align-items: center; justify-content: space-between; margin-bottom: 4px; }
.jp-llmops-title { font-weight: 600; text-transform: uppercase; font-size: var(--jp-ui-font-size0); letter-spacing: 1px; }
.jp-llmops-summary { margin: 4px 0; color: var(--jp-ui-font-color2); }
.jp-llmops-message { color: var(--jp-ui-font-color2); font-style: italic; }
.jp-llmops-table { border-collapse: collapse; width: 100%; }
.jp-llmops-table th { text-align: left; font-weight: 600; border-bottom: 1px solid var(--jp-border-color2); padding: 2px 4px; }
.jp-llmops-table td { padding: 2px 4px; border-bottom: 1px solid var(--jp-border-color3); white-space: nowrap; }
.jp-llmops-row { cursor: pointer; }
.jp-llmops-row:hover { background: var(--jp-layout-color2); }
.jp-llmops-row.jp-mod-error td { color: var(--jp-error-color1); }
.jp-llmops-details td { white-space: normal; background: var(--jp-layout-color2); }
.jp-llmops-details dl { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; margin: 4px 0; }
.jp-llmops-details dt { color: var(--jp-ui-font-color2); }
.jp-llmops-details dd { margin: 0; word-break: break-all; }
.jp-llmops-trace { white-space: pre-wrap; max-height: 240px; overflow: auto; font-size: var(--jp-code-font-size); }
`,""]),t.d(r,{},{A:l})},314(o){o.exports=function(o){var r=[];return r.toString=function(){return this.map(function(r){var t="",e=void 0!==r[5];return r[4]&&(t+="@supports (".concat(r[4],") {")),r[2]&&(t+="@media ".concat(r[2]," {")),e&&(t+="@layer".concat(r[5].length>0?" ".concat(r[5]):""," {")),t+=o(r),e&&(t+="}"),r[2]&&(t+="}"),r[4]&&(t+="}"),t}).join("")},r.i=function(o,t,e,n,a){"string"==typeof o&&(o=[[null,o,void 0]]);var l={};if(e)for(var i=0;i<this.length;i++){var p=this[i][0];null!=p&&(l[p]=!0)}for(var c=0;c<o.length;c++){var s=[].concat(o[c]);e&&l[s[0]]||(void 0!==a&&(void 0===s[5]||(s[1]="@layer".concat(s[5].length>0?" ".concat(s[5]):""," {").concat(s[1],"}")),s[5]=a),t&&(s[2]&&(s[1]="@media ".concat(s[2]," {").concat(s[1],"}")),s[2]=t),n&&(s[4]?(s[1]="@supports (".concat(s[4],") {").concat(s[1],"}"),s[4]=n):s[4]="".concat(n)),r.push(s))}},r}},601(o){o.exports=function(o){return o[1]}},72(o){var r=[];function t(o){for(var t=-1,e=0;e<r.length;e++)if(r[e].identifier===o){t=e;break}return t}function e(o,e){for(var n={},a=[],l=0;l<o.length;l++){var i=o[l],p=e.base?i[0]+e.base:i[0],c=n[p]||0,s="".concat(p," ").concat(c);n[p]=c+1;var m=t(s),u={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==m)r[m].references++,r[m].updater(u);else{var d=function(o,r){var t=r.domAPI(r);return t.update(o),function(r){r?(r.css!==o.css||r.media!==o.media||r.sourceMap!==o.sourceMap||r.supports!==o.supports||r.layer!==o.layer)&&t.update(o=r):t.remove()}}(u,e);e.byIndex=l,r.splice(l,0,{identifier:s,updater:d,references:1})}a.push(s)}return a}o.exports=function(o,n){var a=e(o=o||[],n=n||{});return function(o){o=o||[];for(var l=0;l<a.length;l++){var i=t(a[l]);r[i].references--}for(var p=e(o,n),c=0;c<a.length;c++){var s=t(a[c]);0===r[s].references&&(r[s].updater(),r.splice(s,1))}a=p}}},659(o){var r={};o.exports=function(o,t){var e=function(o){if(void 0===r[o]){var t=document.querySelector(o);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(o){t=null}r[o]=t}return r[o]}(o);if(!e)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");e.appendChild(t)}},540(o){o.exports=function(o){var r=document.createElement("style");return o.setAttributes(r,o.attributes),o.insert(r,o.options),r}},56(o,r,t){o.exports=function(o){var r=t.nc;r&&o.setAttribute("nonce",r)}},825(o){o.exports=function(o){if("u"<typeof document)return{update:function(){},remove:function(){}};var r=o.insertStyleElement(o);return{update:function(t){var e,n,a;e="",t.supports&&(e+="@supports (".concat(t.supports,") {")),t.media&&(e+="@media ".concat(t.media," {")),(n=void 0!==t.layer)&&(e+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),e+=t.css,n&&(e+="}"),t.media&&(e+="}"),t.supports&&(e+="}"),(a=t.sourceMap)&&"u">typeof btoa&&(e+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),o.styleTagTransform(e,r,o.options)},remove:function(){var o;null===(o=r).parentNode||o.parentNode.removeChild(o)}}}},113(o){o.exports=function(o,r){if(r.styleSheet)r.styleSheet.cssText=o;else{for(;r.firstChild;)r.removeChild(r.firstChild);r.appendChild(document.createTextNode(o))}}},959(o,r,t){var e=t(72),n=t.n(e),a=t(825),l=t.n(a),i=t(659),p=t.n(i),c=t(56),s=t.n(c),m=t(540),u=t.n(m),d=t(113),f=t.n(d),v=t(646),h={};h.styleTagTransform=f(),h.setAttributes=s(),h.insert=p().bind(null,"head"),h.domAPI=l(),h.insertStyleElement=u(),n()(v.A,h),v.A&&v.A.locals&&v.A.locals}}]);