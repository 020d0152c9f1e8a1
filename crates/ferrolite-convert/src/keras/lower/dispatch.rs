//! Which lowering function handles which Keras class, and the error for classes no function
//! handles (it lists every supported class, and says so plainly for user-registered ones).

use super::call::Call;
use super::{act_layers, conv, conv1d, core, deconv, merge, norm, pool, resize, shape, Lowering};
use crate::error::{ConvertError, Result};
use crate::keras::config::{LayerSpec, MODEL_CLASSES};
use ferrolite_model::tflite::BuiltinOperator as B;

/// Keras layer classes the converter lowers (nested `Sequential` / `Functional` models are
/// inlined).
pub const SUPPORTED_LAYERS: &[&str] = &[
    "InputLayer",
    "Sequential",
    "Functional",
    "Dense",
    "Conv1D",
    "Conv2D",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2DTranspose",
    "BatchNormalization",
    "LayerNormalization",
    "Normalization",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "PReLU",
    "ELU",
    "Softmax",
    "MaxPooling1D",
    "MaxPooling2D",
    "AveragePooling1D",
    "AveragePooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "ZeroPadding2D",
    "Cropping2D",
    "UpSampling2D",
    "Resizing",
    "Rescaling",
    "Embedding",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
];

/// The error for a class the converter does not lower.
pub fn unknown_layer(layer: &LayerSpec) -> ConvertError {
    let custom = layer.is_custom();
    let class_name = match (&layer.registered_name, custom) {
        (Some(r), true) if r != &layer.class_name => {
            format!("{} (registered as `{r}`)", layer.class_name)
        }
        _ => layer.class_name.clone(),
    };
    ConvertError::UnknownLayer {
        layer: layer.name.clone(),
        class_name,
        custom,
        supported: SUPPORTED_LAYERS.join(", "),
    }
}

/// Lowers one call of a (non-model) layer; returns its output tensors.
pub fn lower_call(lw: &mut Lowering<'_>, call: &Call<'_>) -> Result<Vec<usize>> {
    let class = call.layer.class_name.as_str();
    if call.layer.is_custom() || MODEL_CLASSES.contains(&class) {
        return Err(unknown_layer(call.layer));
    }
    call.check_common()?;
    match class {
        "Dense" => core::dense(lw, call),
        "Conv1D" | "Convolution1D" => conv1d::conv1d(lw, call),
        "Conv2D" | "Convolution2D" => conv::conv2d(lw, call),
        "DepthwiseConv2D" => conv::depthwise_conv2d(lw, call),
        "SeparableConv2D" | "SeparableConvolution2D" => deconv::separable_conv2d(lw, call),
        "Conv2DTranspose" | "Convolution2DTranspose" => deconv::conv2d_transpose(lw, call),
        "BatchNormalization" => merge::batch_norm(lw, call),
        "LayerNormalization" => norm::layer_norm(lw, call),
        "Normalization" => norm::normalization(lw, call),
        "Activation" => act_layers::activation_layer(lw, call),
        "ReLU" => act_layers::relu_layer(lw, call),
        "LeakyReLU" => act_layers::leaky_relu_layer(lw, call),
        "PReLU" => act_layers::prelu_layer(lw, call),
        "ELU" => act_layers::elu_layer(lw, call),
        "Softmax" => act_layers::softmax_layer(lw, call),
        "MaxPooling1D" | "MaxPool1D" => pool::pool1d(lw, call, B::MaxPool2d),
        "AveragePooling1D" | "AvgPool1D" => pool::pool1d(lw, call, B::AveragePool2d),
        "MaxPooling2D" | "MaxPool2D" => pool::pool2d(lw, call, B::MaxPool2d),
        "AveragePooling2D" | "AvgPool2D" => pool::pool2d(lw, call, B::AveragePool2d),
        "GlobalAveragePooling1D" | "GlobalAvgPool1D" => pool::global_pool(lw, call, B::Mean, 1),
        "GlobalMaxPooling1D" | "GlobalMaxPool1D" => pool::global_pool(lw, call, B::ReduceMax, 1),
        "GlobalAveragePooling2D" | "GlobalAvgPool2D" => pool::global_pool(lw, call, B::Mean, 2),
        "GlobalMaxPooling2D" | "GlobalMaxPool2D" => pool::global_pool(lw, call, B::ReduceMax, 2),
        "Flatten" => core::flatten(lw, call),
        "Reshape" => core::reshape(lw, call),
        "Permute" => shape::permute(lw, call),
        "RepeatVector" => shape::repeat_vector(lw, call),
        "ZeroPadding2D" => conv::zero_padding2d(lw, call),
        "Cropping2D" => resize::cropping2d(lw, call),
        "UpSampling2D" => resize::upsampling2d(lw, call),
        "Resizing" => resize::resizing(lw, call),
        "Rescaling" => core::rescaling(lw, call),
        "Embedding" => shape::embedding(lw, call),
        "Add" => merge::elementwise(lw, call, B::Add),
        "Subtract" => merge::elementwise(lw, call, B::Sub),
        "Multiply" => merge::elementwise(lw, call, B::Mul),
        "Average" => merge::average(lw, call),
        "Maximum" => merge::elementwise(lw, call, B::Maximum),
        "Minimum" => merge::elementwise(lw, call, B::Minimum),
        "Concatenate" => merge::concatenate(lw, call),
        "Dot" => merge::dot(lw, call),
        c if core::IDENTITY_CLASSES.contains(&c) => core::identity_layer(lw, call),
        _ => Err(unknown_layer(call.layer)),
    }
}
