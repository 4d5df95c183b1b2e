"""Templates of the codes the vision models and the image reader raise or return (models/capture/vision.py,
models/runtime/images.py): ViT and Swin pages, positional and step-by-step pages."""
from ui.i18n import N_

TEMPLATES = {
    # ------------------------------------------------------------------ models/capture/vision.py: errors
    "vision.no_demo": N_("There is no bundled demo checkpoint called '{name}' (bundled: {known})."),
    "vision.swin_not_vit": N_("'{name}' is a Swin-family model, not a ViT-family (vit_*, deit_*, eva*, beit*…) one: "
                              "use its own page."),
    "vision.vit_not_swin": N_("'{name}' is a ViT-family model, not a Swin-family (swin_*, swinv2_*) one: "
                              "use its own page."),
    "vision.not_vit": N_("'{name}' is a timm model, but not a ViT-family (vit_*, deit_*, eva*, beit*…) one: its "
                         "attention cannot be shown here."),
    "vision.not_swin": N_("'{name}' is a timm model, but not a Swin-family (swin_*, swinv2_*) one: its attention "
                          "cannot be shown here."),
    "vision.unknown_model": N_("'{name}' is not a timm model name."),
    "vision.unknown_model_close": N_("'{name}' is not a timm model name. Did you mean {close}?"),
    "vision.unknown_tag": N_("timm has no pretrained weights tagged '{tag}' for {arch}. Its tags: {tags}."),
    "vision.unknown_tag_close": N_("timm has no pretrained weights tagged '{tag}' for {arch}. Its tags: {tags}. "
                                   "Did you mean {close}?"),
    "vision.unknown_tag_none": N_("timm has no pretrained weights tagged '{tag}' for {arch}. timm has no pretrained "
                                  "weights for {arch} at all."),
    "vision.no_pretrained": N_("timm has no pretrained weights for '{name}'."),
    "vision.hub_unreachable": N_(
        "The pretrained weights of {full} could not be downloaded: the Hugging Face Hub is unreachable from this "
        "machine and they are not in the local cache. Use the demo weights, random weights, or a local .safetensors "
        "file instead."),
    "vision.download_failed": N_(
        "The pretrained weights of {full} could not be downloaded ({detail}). Use the demo weights, random weights, "
        "or a local .safetensors file instead."),
    "vision.not_safetensors": N_(
        "{file}: only .safetensors files are loaded (a pickled .pth/.bin file can run code when opened)."),
    "vision.no_weights_file": N_("No weights file at {path}."),
    "vision.unreadable_safetensors": N_("{file} is not a readable .safetensors file ({detail})."),
    "vision.cannot_build": N_("{arch} cannot be built with {file}'s settings ({detail})."),
    "vision.does_not_fit": N_("{file} does not fit {arch}: tensors missing {missing}; unexpected {unexpected}; of the "
                              "wrong shape (file ≠ model) {wrong}."),
    "vision.sidecar_unreadable": N_("{sidecar}, the settings beside {file}, is not readable JSON ({detail})."),
    "vision.sidecar_not_object": N_("{sidecar}, the settings beside {file}, is not a JSON object."),
    "vision.sidecar_fields": N_("{where}: \"kwargs\" and \"pretrained_cfg_overlay\" must be JSON objects."),
    "vision.other_arch": N_("{file} is a {side_arch} checkpoint ({sidecar} says so), not {arch}: choose {side_arch}."),
    "vision.demo_not_pretrained": N_("'{name}' is a bundled demo model: it has demo weights, not pretrained ones."),
    "vision.no_attn_drop": N_("{module}: no attention dropout module to read the weights from."),
    "vision.not_vit_or_swin": N_(
        "'{name}' ({module}) is not a ViT- or Swin-family model: its attention cannot be shown here."),
    "vision.capture_empty": N_("No attention weights were captured from {name}: the capture came back empty."),
    "vision.capture_count": N_("Captured {maps} attention maps from {name}, which has {blocks} blocks."),
    "vision.capture_shape": N_("Block {block} gave attention of shape {shape}, expected (heads, {n}, {n})."),
    "vision.capture_masked": N_("{module} called its attention with a mask: its weights cannot be recomputed from "
                                "the queries and keys alone, so this app does not show them."),
    "vision.maps_too_large": N_("{name} at {n} tokens: this model's attention (rotary or relative position bias) is "
                                "read from timm's graph as whole maps, {gb} GB of them, above this app's limit of "
                                "{limit} GB. Choose a smaller image size or a plain ViT, whose weights are computed "
                                "when shown."),
    "vision.unknown_fusion": N_("Head fusion must be one of {known}, not '{fusion}'."),
    "vision.unknown_shape": N_("Unknown shape '{shape}'; known: {known}."),
    # ------------------------------------------------------------------ models/capture/vision.py: weights in use
    "vision.source_cache": N_("pretrained (timm {full}, from the local Hugging Face cache)"),
    "vision.source_hub": N_("pretrained (timm {full}, from the Hugging Face Hub)"),
    "vision.source_demo": N_("demo ({name}: timm {arch} trained here on synthetic shapes)"),
    "vision.source_demo_scored": N_(
        "demo ({name}: timm {arch} trained here on synthetic shapes, {accuracy} accuracy on fresh images)"),
    "vision.source_random": N_("random (untrained {name}, seed 0)"),
    "vision.source_file": N_("file: {file} (sha256 {digest}…)"),
    # ------------------------------------------------------------------ models/runtime/images.py: errors
    "image.no_file": N_("No image file at {path}."),
    "image.too_large_file": N_("{file} is {size} MB; the limit is {limit} MB."),
    "image.unreadable_type": N_("Cannot read an image from a {type}."),
    "image.empty": N_("The file is empty (0 bytes)."),
    "image.bomb_declared": N_("Refused: the image declares too many pixels (a possible decompression bomb). {detail}"),
    "image.not_an_image": N_(
        "This file is not an image that can be read (PNG, JPEG, WebP, BMP, GIF and TIFF are supported)."),
    "image.bad_header": N_("This image's header could not be read ({detail})."),
    "image.no_pixels": N_("The image has no pixels ({width}×{height})."),
    "image.too_many_pixels": N_(
        "Refused: the image declares {width}×{height} = {millions} million pixels, over the {limit} million limit "
        "(a decompression bomb, or simply too large). Nothing was decoded."),
    "image.bomb": N_("Refused: a possible decompression bomb. {detail}"),
    "image.truncated": N_("The image file is truncated: it ends before all its pixels."),
    "image.corrupt": N_("The image could not be decoded: it is corrupt or in an unsupported variant ({detail})."),
    "image.undecodable": N_("The image could not be decoded ({detail})."),
    "image.no_rgb": N_("The image could not be converted to RGB ({detail})."),
    # ------------------------------------------------------------------ models/runtime/images.py: notes
    "image.grey_16": N_("16-bit greyscale scaled to 8 bits"),
    "image.grey_32f": N_("32-bit float greyscale scaled to 8 bits"),
    "image.grey_32i": N_("32-bit integer greyscale scaled to 8 bits"),
    "image.palette": N_("palette expanded to RGB"),
    "image.alpha": N_("transparent pixels composited on white"),
    "image.cmyk": N_("CMYK converted to RGB"),
    "image.bilevel": N_("black-and-white (1-bit) converted to RGB"),
    "image.mode": N_("{mode} converted to RGB"),
    "image.first_frame": N_("first of {frames} frames/pages used"),
    "image.exif_rotated": N_("rotated upright per its EXIF orientation ({orientation})"),
    "image.downscaled": N_("downscaled from {width}×{height} to {new_width}×{new_height} before preprocessing"),
    "image.unusual_shape": N_("unusual shape {width}×{height}: the model sees it resized and centre-cropped"),
}
