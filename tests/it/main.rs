mod cli;
mod columnar;
mod columnar_props;
mod corpus;
mod generate;
mod props;
