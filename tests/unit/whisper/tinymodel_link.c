/* tinymodel_link.c: the tiny model writer of tests/unit/whisper_model, built into this binary. */
#include "../whisper_model/tinymodel.c"
