// Module ids from names relative to this folder, not hashes of absolute paths: the build is the
// same in any checkout, so CI can check that the committed llmops_nb/labextension is its output.
module.exports = {
  optimization: { moduleIds: 'named' }
};
