"""Pixels in the terminal: any common DICOM image turned into a correct picture.

No Textual and no pynetdicom here: the CLI (``tui-pacs show``) and the app use
the same engine. The steps, each in its own module:

    source        read the file, check the Image Pixel module, decode one frame
    decoders      which package decodes which transfer syntax; one-line reasons
    attributes    per-frame rescale, windows, spacing (also from functional groups)
    voi           Modality LUT, windows (LINEAR, LINEAR_EXACT, SIGMOID), VOI LUTs,
                  the automatic window
    window        windows as plain values: the file's, presets, auto, manual
    presets       CT presets in Hounsfield units
    presentation  MONOCHROME1/2, RGB, YBR, PALETTE COLOR -> 8-bit L or RGB
    geometry      pixel aspect and cell shape -> cells and pixels to fill
    pipeline      the steps in order: prepare, picture, fit, half blocks
    halfblock     the half-block rich renderable (any terminal, any colour depth)
    kitty, sixel  terminal graphics protocols
    terminal      which protocol a terminal speaks, and its cell size
    draw          a picture onto a terminal or a pipe, with any protocol
    cache         a thread-safe LRU
    service       worker threads, caches and prefetch, for the UI

Every image that cannot be shown raises ``errors.UnsupportedImage`` with one
line saying why.
"""
