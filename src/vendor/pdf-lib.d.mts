// Types of src/vendor/pdf-lib.mjs (pdf-lib's own ESM build, copied there by dev/copy-assets.mjs at install time).
export * from "pdf-lib";
