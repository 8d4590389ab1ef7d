"use strict";(self.rspackChunkllmops_nb=self.rspackChunkllmops_nb||[]).push([[700],{"./node_modules/css-loader/dist/cjs.js!./style/index.css"(e,o,t){var r=t("./node_modules/css-loader/dist/runtime/noSourceMaps.js"),n=t.n(r),l=t("./node_modules/css-loader/dist/runtime/api.js"),s=(t.n(l))()(n());s.push([e.id,`/* llmops-nb: %%llm highlighting, status bar item, LLM calls sidebar */
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
`,""]),t.d(o,{},{A:s})},"./node_modules/css-loader/dist/runtime/api.js"(e){e.exports=function(e){var o=[];return o.toString=function(){return this.map(function(o){var t="",r=void 0!==o[5];return o[4]&&(t+="@supports (".concat(o[4],") {")),o[2]&&(t+="@media ".concat(o[2]," {")),r&&(t+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),t+=e(o),r&&(t+="}"),o[2]&&(t+="}"),o[4]&&(t+="}"),t}).join("")},o.i=function(e,t,r,n,l){"string"==typeof e&&(e=[[null,e,void 0]]);var s={};if(r)for(var a=0;a<this.length;a++){var i=this[a][0];null!=i&&(s[i]=!0)}for(var c=0;c<e.length;c++){var p=[].concat(e[c]);r&&s[p[0]]||(void 0!==l&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=l),t&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=t),n&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=n):p[4]="".concat(n)),o.push(p))}},o}},"./node_modules/css-loader/dist/runtime/noSourceMaps.js"(e){e.exports=function(e){return e[1]}},"./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"(e){var o=[];function t(e){for(var t=-1,r=0;r<o.length;r++)if(o[r].identifier===e){t=r;break}return t}function r(e,r){for(var n={},l=[],s=0;s<e.length;s++){var a=e[s],i=r.base?a[0]+r.base:a[0],c=n[i]||0,p="".concat(i," ").concat(c);n[i]=c+1;var d=t(p),m={css:a[1],media:a[2],sourceMap:a[3],supports:a[4],layer:a[5]};if(-1!==d)o[d].references++,o[d].updater(m);else{var u=function(e,o){var t=o.domAPI(o);return t.update(e),function(o){o?(o.css!==e.css||o.media!==e.media||o.sourceMap!==e.sourceMap||o.supports!==e.supports||o.layer!==e.layer)&&t.update(e=o):t.remove()}}(m,r);r.byIndex=s,o.splice(s,0,{identifier:p,updater:u,references:1})}l.push(p)}return l}e.exports=function(e,n){var l=r(e=e||[],n=n||{});return function(e){e=e||[];for(var s=0;s<l.length;s++){var a=t(l[s]);o[a].references--}for(var i=r(e,n),c=0;c<l.length;c++){var p=t(l[c]);0===o[p].references&&(o[p].updater(),o.splice(p,1))}l=i}}},"./node_modules/style-loader/dist/runtime/insertBySelector.js"(e){var o={};e.exports=function(e,t){var r=function(e){if(void 0===o[e]){var t=document.querySelector(e);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(e){t=null}o[e]=t}return o[e]}(e);if(!r)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");r.appendChild(t)}},"./node_modules/style-loader/dist/runtime/insertStyleElement.js"(e){e.exports=function(e){var o=document.createElement("style");return e.setAttributes(o,e.attributes),e.insert(o,e.options),o}},"./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"(e,o,t){e.exports=function(e){var o=t.nc;o&&e.setAttribute("nonce",o)}},"./node_modules/style-loader/dist/runtime/styleDomAPI.js"(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=e.insertStyleElement(e);return{update:function(t){var r,n,l;r="",t.supports&&(r+="@supports (".concat(t.supports,") {")),t.media&&(r+="@media ".concat(t.media," {")),(n=void 0!==t.layer)&&(r+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),r+=t.css,n&&(r+="}"),t.media&&(r+="}"),t.supports&&(r+="}"),(l=t.sourceMap)&&"u">typeof btoa&&(r+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(l))))," */")),e.styleTagTransform(r,o,e.options)},remove:function(){var e;null===(e=o).parentNode||e.parentNode.removeChild(e)}}}},"./node_modules/style-loader/dist/runtime/styleTagTransform.js"(e){e.exports=function(e,o){if(o.styleSheet)o.styleSheet.cssText=e;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(e))}}},"./style/index.js"(e,o,t){var r=t("./node_modules/style-loader/dist/runtime/injectStylesIntoStyleTag.js"),n=t.n(r),l=t("./node_modules/style-loader/dist/runtime/styleDomAPI.js"),s=t.n(l),a=t("./node_modules/style-loader/dist/runtime/insertBySelector.js"),i=t.n(a),c=t("./node_modules/style-loader/dist/runtime/setAttributesWithoutAttributes.js"),p=t.n(c),d=t("./node_modules/style-loader/dist/runtime/insertStyleElement.js"),m=t.n(d),u=t("./node_modules/style-loader/dist/runtime/styleTagTransform.js"),f=t.n(u),v=t("./node_modules/css-loader/dist/cjs.js!./style/index.css"),j={};j.styleTagTransform=f(),j.setAttributes=p(),j.insert=i().bind(null,"head"),j.domAPI=s(),j.insertStyleElement=m(),n()(v.A,j),v.A&&v.A.locals&&v.A.locals}}]);